/*!
`config check`: the configuration file, and with `--connect` every source reached.
*/

use std::path::Path;

use super::{load, Failure};

pub(super) fn cmd_config_check(config_path: &Path, connect: bool) -> Result<(), Failure> {
    let cfg = load(config_path)?;
    crate::agent::alerts::check_mail_settings(&cfg.notify)
        .map_err(|e| Failure::Usage(e.to_string()))?;
    for w in crate::config::exposed_secret_files(&cfg) {
        eprintln!("simdondar-backup: warning: {w}");
    }
    if connect {
        let mut problems = Vec::new();
        for s in &cfg.sources {
            match crate::backup::source::check_connection(s, &cfg.runtime_dir) {
                Ok(msg) => println!("{}: {msg}", s.name),
                Err(e) => problems.push(format!("{}: {e}", s.name)),
            }
        }
        if !problems.is_empty() {
            return Err(Failure::Failed(problems.join("\n")));
        }
    }
    println!(
        "{}: OK — {} source(s), {} static target(s), time zone {}, state in {}",
        cfg.path.display(),
        cfg.sources.len(),
        cfg.targets.len(),
        cfg.timezone.name(),
        cfg.state_dir.display()
    );
    Ok(())
}
