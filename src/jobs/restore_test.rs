/*!
The scheduled restore-test job (the daemon's): the newest unencrypted backup of each database
source on the automatic targets loaded into a throw-away MariaDB
([`crate::backup::restore_test`]), each result recorded in the catalog and the audit log.
*/

use std::path::PathBuf;

use crate::catalog::Catalog;
use crate::config::Config;

/// The scheduled restore test: the newest unencrypted backup of each database source on the
/// automatic targets, each loaded into a throw-away MariaDB; recorded in the catalog and the
/// audit log. Returns (tested, passed, summary); not tested when there is nothing to test yet
/// or a backup started (the test gave way).
pub fn scheduled(cfg: &Config, roots: &[PathBuf]) -> (bool, bool, String) {
    use crate::backup::restore_test;
    let found = restore_test::newest_backups(roots);
    if found.is_empty() {
        log::info!(
            "restore test postponed: no unencrypted database backup on the automatic disks yet"
        );
        return (false, false, "no backup to test yet".into());
    }
    let catalog = Catalog::open(&cfg.state_dir).ok();
    let settings = restore_test::Settings::for_state_dir(&cfg.state_dir);
    let mut passed = true;
    let mut lines = Vec::new();
    for (source, file) in found {
        match restore_test::restore_test_with(&file, &settings) {
            Ok(r) => {
                passed &= r.passed;
                lines.push(r.summary());
                if let Some(c) = &catalog {
                    let row = r.to_row_in(&cfg.timezone);
                    if let Err(e) = c.record_restore_test(&row) {
                        log::error!("{e}");
                    }
                    crate::audit::record(c, "daemon:schedule", "restore-test", &row);
                }
            }
            Err(restore_test::RestoreTestError::Yielded) => {
                // A backup started: the test gave way; nothing is recorded, it runs again later.
                log::info!("restore test of {source} postponed: a backup runs");
                return (false, false, "postponed: a backup runs".into());
            }
            Err(e) => {
                passed = false;
                lines.push(format!("{source}: the restore test could not run: {e}"));
            }
        }
    }
    let summary = lines.join("; ");
    if passed {
        log::info!("restore test passed: {summary}");
    } else {
        log::error!("restore test FAILED: {summary}");
    }
    (true, passed, summary)
}
