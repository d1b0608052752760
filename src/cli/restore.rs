/*!
`restore` (every stored byte checked before anything is decompressed) and `verify --restore`
(the restore test).
*/

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use super::targets::target_roots;
use super::{daemon_socket, load, Failure};
use crate::backup::restore;
use crate::catalog::Catalog;
use crate::config::Config;
use crate::disks::Disks;

pub(super) fn cmd_restore(
    file: &Path,
    to_stdout: bool,
    identity: Option<&Path>,
) -> Result<(), Failure> {
    if !to_stdout {
        return Err(Failure::Usage(format!(
            "restore writes the dump to standard output: add --stdout, e.g. `simdondar-backup restore {} --stdout | mariadb`",
            file.display()
        )));
    }
    let stdout = std::io::stdout();
    if stdout.is_terminal() {
        return Err(Failure::Usage(
            "refusing to write a database dump to the terminal: pipe it, e.g. `… --stdout | mariadb` or `… --stdout > dump.sql`".into(),
        ));
    }
    let mut out = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
    let r =
        restore::restore(file, identity, &mut out).map_err(|e| Failure::Failed(e.to_string()))?;
    if !r.manifest_found {
        log::warn!(
            "no manifest next to {}: checked against the .sha256 file only",
            file.display()
        );
    }
    Ok(())
}

pub(super) fn cmd_restore_test(
    config_path: &Path,
    targets: &[PathBuf],
    file: Option<&Path>,
) -> Result<(), Failure> {
    let cfg = load(config_path)?;
    let cat = Catalog::open(&cfg.state_dir).map_err(|e| Failure::Failed(e.to_string()))?;
    let backups: Vec<PathBuf> = match file {
        Some(f) => vec![f.to_path_buf()],
        None => {
            let mut roots = target_roots(Some(&cfg), targets, "restore from").unwrap_or_default();
            if targets.is_empty()
                && crate::disks::device::udev_running()
                && daemon_socket(&cfg).is_none()
            {
                let (attached, _) = Disks::new(&cfg).attach_all();
                roots.extend(attached.iter().map(|a| a.target.root.clone()));
                let found = crate::backup::restore_test::newest_backups(&roots);
                let disks = Disks::new(&cfg);
                let out =
                    run_restore_tests(&cfg, &cat, found.into_iter().map(|(_, p)| p).collect());
                for a in attached.iter().filter(|a| a.mounted_here) {
                    let _ = disks.eject(&a.target.root, None, false);
                }
                return out;
            }
            crate::backup::restore_test::newest_backups(&roots)
                .into_iter()
                .map(|(_, p)| p)
                .collect()
        }
    };
    run_restore_tests(&cfg, &cat, backups)
}

pub(super) fn run_restore_tests(
    cfg: &Config,
    cat: &Catalog,
    backups: Vec<PathBuf>,
) -> Result<(), Failure> {
    if backups.is_empty() {
        return Err(Failure::Failed(
            "no unencrypted database backup found to test: take a backup first, or give the file"
                .into(),
        ));
    }
    let settings = crate::backup::restore_test::Settings::for_state_dir(&cfg.state_dir);
    let mut failed = Vec::new();
    for b in backups {
        match crate::backup::restore_test::restore_test_with(&b, &settings) {
            Ok(r) => {
                println!("{}", r.summary());
                let row = r.to_row_in(&cfg.timezone);
                cat.record_restore_test(&row)
                    .map_err(|e| Failure::Failed(e.to_string()))?;
                crate::audit::record(cat, &crate::audit::cli_actor(), "restore-test", &row);
                if !r.passed {
                    failed.push(format!("restore test of {} FAILED", b.display()));
                }
            }
            Err(e) => failed.push(format!(
                "restore test of {} could not run: {e}",
                b.display()
            )),
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Failure::Failed(failed.join("\n")))
    }
}
