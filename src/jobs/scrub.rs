/*!
The scrub job (the daemon's): one paced pass over the copies on the automatic disks
([`crate::backup::scrub`]), waiting while a backup runs and stopping when the agent stops.
*/

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use crate::backup::scrub;
use crate::catalog::Catalog;
use crate::config::Config;

/// The scrub's average read rate: a week's pass over a full 1 TB disk takes about 17 hours, and
/// it waits while a backup runs.
const SCRUB_RATE: u64 = 16 << 20;

/// Runs one scrub pass over `disks` (root, label) at [`SCRUB_RATE`]; `pause` is set while a backup
/// runs, `stop` when the agent stops. What it found, logged too.
pub fn pass(
    cfg: &Config,
    disks: Vec<(PathBuf, String)>,
    pause: &AtomicBool,
    stop: &AtomicBool,
) -> scrub::Found {
    let disks: Vec<scrub::Disk> = disks
        .into_iter()
        .map(|(root, label)| scrub::Disk { root, label })
        .collect();
    let found = match Catalog::open(&cfg.state_dir) {
        Ok(catalog) => {
            let pace = scrub::Pace {
                rate: SCRUB_RATE,
                pause,
                stop,
            };
            scrub::run_pass(&cfg.state_dir, &disks, &pace, &catalog)
        }
        Err(e) => {
            log::error!("scrub: {e}");
            scrub::Found::default()
        }
    };
    log::info!(
        "scrub: {} copies checked, {} bad{}",
        found.checked,
        found.bad.len(),
        if found.complete {
            ""
        } else {
            " (stopped; it goes on later)"
        }
    );
    found
}
