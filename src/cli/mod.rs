/*!
The command line (DESIGN.md §3): the definitions with clap ([`args`]), and one file per command
group, each a translation from arguments to the work (a job, the daemon, a domain call) and from
its result to text or JSON. Exit codes: 0 success, 1 the operation failed (a backup, a restore),
2 bad usage or configuration. Nothing else in the crate uses the CLI.
*/

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;

use crate::agent::control;
use crate::agent::state::Request;
use crate::config::Config;

mod args;
mod audit;
mod backup;
mod config_check;
mod copies;
mod daemon;
mod disks;
mod keys;
mod offsite;
mod report;
mod restore;
mod targets;

pub use args::*;
use audit::cmd_audit_verify;
use backup::cmd_backup;
use config_check::cmd_config_check;
use copies::cmd_list;
use copies::cmd_prune;
use copies::cmd_verify;
use daemon::cmd_press;
use daemon::cmd_run;
use daemon::cmd_status;
use disks::cmd_disks;
use disks::cmd_eject;
use disks::cmd_enroll;
use keys::cmd_key;
use keys::cmd_keygen;
use report::cmd_report;
use restore::cmd_restore;
use restore::cmd_restore_test;

/// A command's failure, with its exit code.
#[derive(Debug)]
pub enum Failure {
    /// Bad usage or configuration (exit 2).
    Usage(String),
    /// The operation failed (exit 1).
    Failed(String),
}

impl Failure {
    fn code(&self) -> u8 {
        match self {
            Failure::Usage(_) => 2,
            Failure::Failed(_) => 1,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Usage(m) | Failure::Failed(m) => f.write_str(m),
        }
    }
}

/// Entry point for the binary.
pub fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
        .format_timestamp_secs()
        .init();
    // What the agent creates is never readable by others, from the command line as from the
    // unit (UMask=0027): the state directory is 0751 so the restore test's sandbox user can pass
    // through it, never read what is in it.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o027));
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            let _ = writeln!(std::io::stderr(), "simdondar-backup: {f}");
            ExitCode::from(f.code())
        }
    }
}

/// Runs a parsed command.
pub fn run(cli: &Cli) -> Result<(), Failure> {
    match &cli.command {
        Command::Run { sim, clock_speed } => cmd_run(&cli.config, *sim, *clock_speed),
        Command::Press { long } => cmd_press(&cli.config, *long),
        Command::Backup { sources, targets } => cmd_backup(&cli.config, sources, targets),
        Command::List { targets, json } => cmd_list(&cli.config, targets, *json),
        Command::Restore {
            file,
            stdout,
            identity,
        } => cmd_restore(file, *stdout, identity.as_deref()),
        Command::Keygen { out } => cmd_keygen(out),
        Command::Key { command } => cmd_key(&cli.config, command),
        Command::Offsite { command } => offsite::cmd_offsite(&cli.config, command),
        Command::Verify {
            targets,
            json: _,
            restore: Some(file),
        } => cmd_restore_test(&cli.config, targets, file.as_deref()),
        Command::Verify {
            targets,
            json,
            restore: None,
        } => cmd_verify(&cli.config, targets, *json),
        Command::Report { from, to, format } => cmd_report(&cli.config, from, to, *format),
        Command::Prune {
            targets,
            dry_run,
            json,
        } => cmd_prune(&cli.config, targets, *dry_run, *json),
        Command::Status { json } => cmd_status(&cli.config, *json),
        Command::Config {
            command: ConfigCommand::Check { connect },
        } => cmd_config_check(&cli.config, *connect),
        Command::Disks { json } => cmd_disks(&cli.config, *json),
        Command::Audit {
            command: AuditCommand::Verify { targets },
        } => cmd_audit_verify(&cli.config, targets),
        Command::Disk {
            command:
                DiskCommand::Enroll {
                    device_or_mountpoint,
                    role,
                    label,
                    force,
                },
        } => cmd_enroll(
            &cli.config,
            device_or_mountpoint,
            (*role).into(),
            label.as_deref(),
            *force,
        ),
        Command::Eject { disk } => cmd_eject(&cli.config, disk.as_deref()),
    }
}

fn load(path: &Path) -> Result<Config, Failure> {
    Config::load(path).map_err(|e| Failure::Usage(e.to_string()))
}

fn daemon_socket(cfg: &Config) -> Option<PathBuf> {
    let p = control::socket_path(&cfg.runtime_dir);
    control::daemon_running(&p).then_some(p)
}

fn ask_daemon(
    sock: &Path,
    req: &Request,
    timeout: Option<std::time::Duration>,
) -> Result<(), Failure> {
    let r = control::request(sock, req, timeout).map_err(Failure::Failed)?;
    if r.ok {
        println!("{}", r.message);
        Ok(())
    } else {
        Err(Failure::Failed(r.message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_valid() {
        Cli::command().debug_assert();
    }
}
