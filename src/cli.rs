/*!
The command line (DESIGN.md §3): definitions with clap, and one function per command. Exit codes:
0 success, 1 the operation failed (a backup, a restore), 2 bad usage or configuration.
*/

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde::Serialize;

use crate::agent::control;
use crate::agent::state::Request;
use crate::backup::inventory;
use crate::backup::restore;
use crate::backup::retention;
use crate::backup::verify;
use crate::backup::writer::Target;
use crate::catalog::Catalog;
use crate::config::{self, Config, Role};
use crate::disks::{claim, Disks};
use crate::jobs::backup_run::{run_backup, Trigger};
use crate::util::human_bytes;

/// simdondar-backup: verified backups of the SIMDONDAR database onto USB disks.
#[derive(Debug, Parser)]
#[command(name = "simdondar-backup", version, about, long_about = None)]
pub struct Cli {
    /// The configuration file.
    #[arg(long, global = true, value_name = "PATH", default_value = config::DEFAULT_PATH)]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The daemon: hourly backups, disks, the front panel, the control socket.
    Run {
        /// Use the simulated panel (state_dir/panel/oled.png, leds.json) whatever the config says.
        #[arg(long)]
        sim: bool,
        /// Run the schedule this many times faster than real time (demos and tests only).
        #[arg(long, value_name = "FACTOR", default_value_t = 1.0, hide = true)]
        clock_speed: f64,
    },
    /// Simulate a press of the front-panel button (asks the running daemon).
    Press {
        /// Hold for 3 s or more: eject the removable disks.
        #[arg(long)]
        long: bool,
    },
    /// Take one backup now.
    Backup {
        /// Back up only this source (repeatable); default: every source.
        #[arg(long = "source", value_name = "NAME")]
        sources: Vec<String>,
        /// Write only to this directory (repeatable; each is a target root).
        #[arg(long = "target", value_name = "DIR")]
        targets: Vec<PathBuf>,
    },
    /// List the backups found on targets (from their manifests), newest first.
    List {
        /// The target root to look at (repeatable); default: the configured targets.
        #[arg(long = "target", value_name = "DIR")]
        targets: Vec<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Re-read every copy on the targets from the device and compare its SHA-256 with the
    /// manifest and the .sha256 file; a damaged copy is renamed `.corrupt`. Exit 1 when any failed.
    Verify {
        /// The target root to check (repeatable); default: the configured targets.
        #[arg(long = "target", value_name = "DIR")]
        targets: Vec<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Restore test: load the backup FILE (default: the newest of each database source) into
        /// a throw-away MariaDB and compare every table's row count with the manifest.
        #[arg(long, value_name = "FILE", num_args = 0..=1)]
        restore: Option<Option<PathBuf>>,
    },
    /// The SOP's report (Pelaporan): per day, automatic and manual backups, copies, checks, gaps.
    Report {
        /// First day (YYYY-MM-DD, local date).
        #[arg(long)]
        from: String,
        /// Last day (YYYY-MM-DD, local date).
        #[arg(long)]
        to: String,
        /// csv or html.
        #[arg(long, value_enum, default_value = "html")]
        format: ReportFormat,
    },
    /// Apply retention: remove backups the policy does not keep (never below min_keep).
    Prune {
        /// The target root (repeatable); default: the configured targets.
        #[arg(long = "target", value_name = "DIR")]
        targets: Vec<PathBuf>,
        /// Only show what would be kept and removed, and by which rule.
        #[arg(long)]
        dry_run: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check a backup's checksums, then write the original dump to standard output.
    Restore {
        /// Any file of the backup: the data file, a part, its .sha256 or its .json.
        file: PathBuf,
        /// Write the dump to standard output (required: pipe it into `mariadb`).
        #[arg(long)]
        stdout: bool,
        /// The age identity (private key) file for an encrypted backup.
        #[arg(long, value_name = "KEYFILE")]
        identity: Option<PathBuf>,
    },
    /// Create an age key pair for encrypting removable copies: the private key goes to FILE
    /// (keep it OFF the appliance), the public key is printed for the config.
    Keygen {
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// What the appliance knows: the last run and the last good backup of each source.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Every disk: label, file system, role (or unknown), mount state, size, free space, last backup.
    Disks {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Disk commands.
    Disk {
        #[command(subcommand)]
        command: DiskCommand,
    },
    /// Finish writes, unmount and (for USB) power down the appliance's disks: all, or the one named
    /// by device, label, file-system UUID or mount point.
    Eject {
        /// Which disk (default: every disk the appliance has mounted).
        disk: Option<String>,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// The key-custody check: prove that the holder of each encryption key can still decrypt.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Configuration commands.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum DiskCommand {
    /// Write the enrollment marker (SIMDONDAR-BACKUP/disk.toml) on a disk; never formats.
    Enroll {
        /// The disk's device (/dev/sdb1) or a folder where it is mounted.
        device_or_mountpoint: PathBuf,
        /// auto: stays attached, gets the scheduled backups; manual: carried away.
        #[arg(long, value_enum)]
        role: RoleArg,
        /// The name IT Support knows the disk by (default: its file-system label).
        #[arg(long)]
        label: Option<String>,
        /// Replace an existing marker.
        #[arg(long)]
        force: bool,
    },
}

/// `--format`
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ReportFormat {
    Csv,
    Html,
}

/// `--role`
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum RoleArg {
    Auto,
    Manual,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Auto => Role::Auto,
            RoleArg::Manual => Role::Manual,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Write a challenge (five words, encrypted to each recipient) onto a manual disk.
    Challenge {
        /// The manual disk's folder (where it is mounted).
        #[arg(long = "target", value_name = "DIR")]
        target: PathBuf,
    },
    /// Enter the words a key holder decrypted from a challenge.
    Confirm {
        /// The five words (in one argument or several).
        #[arg(required = true)]
        words: Vec<String>,
    },
    /// Each recipient: last confirmation, whether a check is due (every 90 days).
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk the hash chain, then compare it with the newest audit anchor found on the disks
    /// (configured targets, disks the agent has mounted, and each --target): exit 1 naming the
    /// first entry that was changed or removed, or the entries cut from the end since a disk saw
    /// them.
    Verify {
        /// Also look for an anchor on this target root (repeatable).
        #[arg(long = "target", value_name = "DIR")]
        targets: Vec<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Read and check the configuration; errors name file, line and column.
    Check {
        /// Also connect to each database and check the backup user's grants.
        #[arg(long)]
        connect: bool,
    },
}

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

fn cmd_run(config_path: &Path, sim: bool, clock_speed: f64) -> Result<(), Failure> {
    // A file that does not exist is a usage error (a typo in --config); a file that exists but
    // cannot be used is bad input: the daemon shows it and waits for it to be fixed.
    if !config_path.exists() {
        return Err(Failure::Usage(format!(
            "{} does not exist: give the configuration with --config PATH",
            config_path.display()
        )));
    }
    let cfg = match Config::load(config_path) {
        Ok(cfg) => cfg,
        Err(e) => match crate::agent::waiting::wait_for_config(config_path, e, sim) {
            Some(cfg) => cfg,
            None => return Ok(()),
        },
    };
    for w in crate::config::exposed_secret_files(&cfg) {
        log::warn!("{w}");
    }
    crate::agent::daemon::run(cfg, crate::agent::daemon::Options { sim, clock_speed })
        .map_err(Failure::Failed)
}

fn cmd_press(config_path: &Path, long: bool) -> Result<(), Failure> {
    let cfg = load(config_path)?;
    let Some(sock) = daemon_socket(&cfg) else {
        return Err(Failure::Failed(
            "the daemon is not running (start it with `simdondar-backup run --sim`)".into(),
        ));
    };
    ask_daemon(
        &sock,
        &Request::Press { long },
        Some(std::time::Duration::from_secs(30)),
    )
}

fn cmd_backup(config_path: &Path, sources: &[String], targets: &[PathBuf]) -> Result<(), Failure> {
    let cfg = load(config_path)?;
    if targets.is_empty() {
        if let Some(sock) = daemon_socket(&cfg) {
            // The daemon owns the disks: it runs the backup and answers when it is done.
            return ask_daemon(
                &sock,
                &Request::Backup {
                    sources: sources.to_vec(),
                },
                None,
            );
        }
    }
    let chosen: Vec<_> = if sources.is_empty() {
        cfg.sources.iter().collect()
    } else {
        sources
            .iter()
            .map(|n| {
                cfg.source(n).ok_or_else(|| {
                    let known: Vec<_> = cfg.sources.iter().map(|s| s.name.as_str()).collect();
                    Failure::Usage(format!(
                        "no source named '{n}' in {} (known: {})",
                        cfg.path.display(),
                        known.join(", ")
                    ))
                })
            })
            .collect::<Result<_, _>>()?
    };
    if chosen.is_empty() {
        return Err(Failure::Usage(format!(
            "{} defines no [[source]]: nothing to back up",
            cfg.path.display()
        )));
    }
    let mut attached = Vec::new();
    let targets: Vec<Target> = if targets.is_empty() {
        let configured: Vec<PathBuf> = cfg.targets.iter().map(|t| t.path.clone()).collect();
        let mut v = claimed_targets(&cfg, &configured)?;
        if crate::disks::device::udev_running() {
            let (a, problems) = Disks::new(&cfg).attach_all();
            for p in problems {
                log::warn!("{p}");
            }
            v.extend(a.iter().map(|a| a.target.clone()));
            attached = a;
        }
        v
    } else {
        let abs: Vec<PathBuf> = targets
            .iter()
            .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
            .collect();
        claimed_targets(&cfg, &abs)?
    };
    if targets.is_empty() {
        return Err(Failure::Usage(
            "no target to write to: plug in an enrolled disk, add a [[target]] to the config or give --target DIR".into(),
        ));
    }
    let result = backup_to(&cfg, &chosen, &targets);
    // Disks mounted for this run are unmounted again (left as they were found).
    let disks = Disks::new(&cfg);
    for a in attached.iter().filter(|a| a.mounted_here) {
        if let Err(e) = disks.eject(&a.target.root, None, false) {
            log::warn!("{e}");
        }
    }
    disks.clean_stale();
    result
}

fn backup_to(
    cfg: &Config,
    chosen: &[&crate::config::SourceConfig],
    targets: &[Target],
) -> Result<(), Failure> {
    let catalog = Catalog::open(&cfg.state_dir).map_err(|e| Failure::Failed(e.to_string()))?;
    let mut failed = Vec::new();
    let mut out = std::io::stdout().lock();
    for source in chosen {
        let report = run_backup(cfg, source, targets, Trigger::Cli, &catalog)
            .map_err(|e| Failure::Failed(e.to_string()))?;
        // A disk that stopped answering is freed, or this process could not even exit.
        crate::disks::stuck::release_all(&report.not_answering());
        for c in &report.copies {
            match &c.result {
                Ok(bytes) => {
                    let _ = writeln!(
                        out,
                        "OK      {}  {}  ({}, verified)",
                        source.name,
                        c.target.root.join(&c.relative_path).display(),
                        human_bytes(*bytes)
                    );
                }
                Err(e) => {
                    let _ = writeln!(
                        out,
                        "FAILED  {}  {}: {e}",
                        source.name,
                        c.target.root.display()
                    );
                }
            }
        }
        if let Some(m) = &report.manifest {
            let _ = writeln!(
                out,
                "        sha256 {}  raw {} → stored {}",
                m.sha256,
                human_bytes(m.bytes_raw),
                human_bytes(m.bytes_stored)
            );
        }
        for p in &report.pruned {
            let _ = writeln!(out, "PRUNED  {}  {}  (retention)", source.name, p.path);
        }
        if !report.ok {
            failed.push(format!(
                "backup of '{}' failed: {}",
                source.name,
                report.reason.unwrap_or_else(|| "unknown reason".into())
            ));
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Failure::Failed(failed.join("\n")))
    }
}

#[derive(Serialize)]
struct ListEntry {
    target: String,
    source: String,
    path: String,
    started_at: Option<String>,
    bytes_stored: Option<u64>,
    sha256: Option<String>,
    /// Set when the manifest cannot be used.
    error: Option<String>,
    /// Whether the copy is all there (`complete`, `missing_part`, `wrong_size`, …); only
    /// complete copies are backups that count.
    state: &'static str,
    /// What is wrong with a copy that is not complete, in words.
    problem: Option<String>,
    /// The role of the disk it is on (its marker decides; `manual` for a removable disk that is
    /// not enrolled), when it could be told.
    role: Option<&'static str>,
    /// A clear-text copy on a disk whose role `[encryption] require_for` names.
    policy_problem: Option<String>,
}

fn cmd_list(config_path: &Path, targets: &[PathBuf], json: bool) -> Result<(), Failure> {
    let cfg = if targets.is_empty() {
        Some(load(config_path)?)
    } else {
        Config::load(config_path).ok()
    };
    let roots: Vec<PathBuf> = if targets.is_empty() {
        cfg.iter()
            .flat_map(|c| c.targets.iter().map(|t| t.path.clone()))
            .collect()
    } else {
        targets
            .iter()
            .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
            .collect()
    };
    if roots.is_empty() {
        return Err(Failure::Usage(
            "no target to list: give --target DIR or add a [[target]] to the config".into(),
        ));
    }
    let mut entries = Vec::new();
    let mut problems = Vec::new();
    for root in &roots {
        // Listing writes nothing: a disk that may not be written is still listed.
        let role = match claim::claim(cfg.as_ref(), root) {
            Ok(c) => Some(c.role),
            Err(claim::ClaimError::Unenrolled { .. }) => Some(Role::Manual),
            Err(e) => {
                log::warn!("{e}");
                None
            }
        };
        let encrypted_role = role.filter(|r| {
            cfg.as_ref()
                .is_some_and(|c| c.encryption.require_for.contains(r))
        });
        match inventory::scan(root) {
            Ok(list) => {
                for e in list {
                    let (started_at, bytes_stored, sha256, error) = match &e.manifest {
                        Ok(m) => (
                            Some(m.started_at.clone()),
                            Some(m.bytes_stored),
                            Some(m.sha256.clone()),
                            None,
                        ),
                        Err(err) => (None, None, None, Some(err.clone())),
                    };
                    let complete = e.completeness.is_complete();
                    entries.push(ListEntry {
                        target: root.display().to_string(),
                        source: e.source,
                        path: e.data_path.display().to_string(),
                        started_at,
                        bytes_stored,
                        sha256,
                        error,
                        state: e.completeness.as_str(),
                        problem: (!complete).then(|| e.completeness.to_string()),
                        role: role.map(Role::as_str),
                        policy_problem: encrypted_role
                            .filter(|_| e.manifest.as_ref().is_ok_and(|m| !m.encrypted))
                            .map(|r| clear_text_problem(&e.data_path, r)),
                    });
                }
            }
            Err(e) => problems.push(e),
        }
    }
    let mut out = std::io::stdout().lock();
    if json {
        let text = serde_json::to_string_pretty(&entries).unwrap_or_else(|_| "[]".into());
        let _ = writeln!(out, "{text}");
    } else {
        if entries.is_empty() {
            let _ = writeln!(out, "no backups found");
        }
        for e in &entries {
            match &e.error {
                None => {
                    let _ = writeln!(
                        out,
                        "{:<25}  {:<8}  {:>10}  {}{}",
                        e.started_at.as_deref().unwrap_or("?"),
                        e.source,
                        human_bytes(e.bytes_stored.unwrap_or(0)),
                        e.path,
                        match (&e.problem, &e.policy_problem) {
                            (Some(p), _) => format!("  NOT COUNTED: {p}"),
                            (None, Some(_)) =>
                                "  CLEAR TEXT on a disk that requires encryption: delete it".into(),
                            (None, None) => String::new(),
                        }
                    );
                }
                Some(err) => {
                    let _ = writeln!(
                        out,
                        "{:<25}  {:<8}  {:>10}  {}  UNUSABLE: {err}",
                        "?", e.source, "?", e.path
                    );
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Failure::Failed(problems.join("\n")))
    }
}

/// The targets of a backup, each with the role its disk claims ([`claim::claim`]); any target
/// that may not be written refuses the whole command, before anything is written.
fn claimed_targets(cfg: &Config, roots: &[PathBuf]) -> Result<Vec<Target>, Failure> {
    let mut out = Vec::new();
    let mut refused = Vec::new();
    for root in roots {
        match claim::claim(Some(cfg), root) {
            Ok(c) => out.push(Target::dir(c.root, c.role)),
            Err(e) => refused.push(e.to_string()),
        }
    }
    if refused.is_empty() {
        Ok(out)
    } else {
        Err(Failure::Usage(refused.join("\n")))
    }
}

/// A warning for each clear-text copy on a root whose role `[encryption] require_for` names
/// (written before the marker decided, or by hand): such a disk leaves the building.
fn clear_text_copies(cfg: Option<&Config>, claims: &[claim::Claim]) -> Vec<String> {
    let Some(cfg) = cfg else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for c in claims
        .iter()
        .filter(|c| cfg.encryption.require_for.contains(&c.role))
    {
        for e in inventory::scan(&c.root).unwrap_or_default() {
            if e.manifest.as_ref().is_ok_and(|m| !m.encrypted) {
                out.push(clear_text_problem(&e.data_path, c.role));
            }
        }
    }
    out
}

fn clear_text_problem(data: &Path, role: Role) -> String {
    format!(
        "{}: written in clear text on a {} disk, where [encryption] require_for asks for encrypted copies: delete it from this disk and take a new backup onto it",
        data.display(),
        role.as_str()
    )
}

/// The roots a command that changes a disk (verify's renaming, prune) may touch, and a problem
/// for each one it may not ([`claim::claim`]).
fn writable_roots(cfg: Option<&Config>, roots: Vec<PathBuf>) -> (Vec<claim::Claim>, Vec<String>) {
    let mut ok = Vec::new();
    let mut problems = Vec::new();
    for root in roots {
        match claim::claim(cfg, &root) {
            Ok(c) => ok.push(c),
            Err(e) => problems.push(e.to_string()),
        }
    }
    (ok, problems)
}

fn target_roots(cfg: Option<&Config>, targets: &[PathBuf]) -> Result<Vec<PathBuf>, Failure> {
    let roots: Vec<PathBuf> = if targets.is_empty() {
        cfg.map(|c| c.targets.iter().map(|t| t.path.clone()).collect())
            .unwrap_or_default()
    } else {
        targets
            .iter()
            .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
            .collect()
    };
    if roots.is_empty() {
        return Err(Failure::Usage(
            "no target: give --target DIR or add a [[target]] to the config".into(),
        ));
    }
    Ok(roots)
}

fn cmd_verify(config_path: &Path, targets: &[PathBuf], json: bool) -> Result<(), Failure> {
    // With --target, verification works without a configuration (a disk on another machine);
    // results are then not recorded in a catalog.
    let cfg = match Config::load(config_path) {
        Ok(c) => Some(c),
        Err(e) if !targets.is_empty() => {
            log::warn!("{e}; verifying without recording in the catalog");
            None
        }
        Err(e) => return Err(Failure::Usage(e.to_string())),
    };
    let roots = target_roots(cfg.as_ref(), targets)?;
    let catalog = match &cfg {
        Some(c) => Some(Catalog::open(&c.state_dir).map_err(|e| Failure::Failed(e.to_string()))?),
        None => None,
    };
    let tz = cfg
        .as_ref()
        .map(|c| c.timezone)
        .unwrap_or(chrono_tz::Asia::Jakarta);
    let now = chrono::Utc::now().with_timezone(&tz).to_rfc3339();
    let mut all = Vec::new();
    let (claims, mut problems) = writable_roots(cfg.as_ref(), roots);
    for c in &claims {
        match verify::verify_target(&c.root, &now) {
            Ok(list) => all.extend(list),
            Err(e) => problems.push(format!("cannot read target {e}")),
        }
    }
    for w in clear_text_copies(cfg.as_ref(), &claims) {
        log::warn!("{w}");
    }
    if let Some(cat) = &catalog {
        for c in &all {
            // A copy that was not checked (a newer program's format) is no verification.
            if c.verdict.was_checked() {
                cat.record_verification(&c.target, &c.path, c.ok, c.problem.as_deref(), &now)
                    .map_err(|e| Failure::Failed(e.to_string()))?;
            }
            crate::audit::record(cat, &crate::audit::cli_actor(), "verify", c);
        }
    }
    let mut out = std::io::stdout().lock();
    if json {
        let text = serde_json::to_string_pretty(&all).unwrap_or_else(|_| "[]".into());
        let _ = writeln!(out, "{text}");
    } else {
        if all.is_empty() {
            let _ = writeln!(out, "no backups found");
        }
        for c in &all {
            let word = match &c.verdict {
                verify::Verdict::Good => "OK",
                verify::Verdict::Mismatch { .. } | verify::Verdict::BadManifest { .. } => "DAMAGED",
                verify::Verdict::Unreadable { .. } => "UNREADABLE",
                verify::Verdict::Missing { .. } => "INCOMPLETE",
                verify::Verdict::Skipped { .. } => "SKIPPED",
            };
            let _ = writeln!(out, "{word:<10} {}", c.path);
            if let Some(p) = &c.problem {
                let _ = writeln!(out, "           {p}");
            }
            if let Some(a) = &c.action {
                let _ = writeln!(out, "           {a}");
            }
        }
    }
    let count = |f: fn(&verify::Verdict) -> bool| all.iter().filter(|c| f(&c.verdict)).count();
    let damaged = count(|v| {
        matches!(
            v,
            verify::Verdict::Mismatch { .. } | verify::Verdict::BadManifest { .. }
        )
    });
    let unreadable = count(|v| matches!(v, verify::Verdict::Unreadable { .. }));
    let missing = count(|v| matches!(v, verify::Verdict::Missing { .. }));
    let skipped = count(|v| matches!(v, verify::Verdict::Skipped { .. }));
    let bad = damaged + unreadable + missing;
    if skipped > 0 && !json {
        let _ = writeln!(
            out,
            "{skipped} {} written by a newer simdondar-backup {} not checked; update this program to check {}",
            if skipped == 1 { "copy" } else { "copies" },
            if skipped == 1 { "was" } else { "were" },
            if skipped == 1 { "it" } else { "them" },
        );
    }
    if bad > 0 {
        let mut what = Vec::new();
        if damaged > 0 {
            what.push(format!(
                "{damaged} damaged (renamed {}, no longer counted)",
                crate::backup::layout::CORRUPT_SUFFIX
            ));
        }
        if unreadable > 0 {
            what.push(format!(
                "{unreadable} unreadable (the disk returned errors; kept, not counted, read again at the next verification)"
            ));
        }
        if missing > 0 {
            what.push(format!("{missing} incomplete (a data file is missing)"));
        }
        problems.push(format!(
            "{bad} of {} copies failed verification: {}; restore from another disk and replace the failing one",
            all.len(),
            what.join(", ")
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Failure::Failed(problems.join("\n")))
    }
}

fn cmd_prune(
    config_path: &Path,
    targets: &[PathBuf],
    dry_run: bool,
    json: bool,
) -> Result<(), Failure> {
    let cfg = load(config_path)?;
    let roots = target_roots(Some(&cfg), targets)?;
    let catalog = if dry_run {
        None
    } else {
        Some(Catalog::open(&cfg.state_dir).map_err(|e| Failure::Failed(e.to_string()))?)
    };
    let now = chrono::Utc::now().with_timezone(&cfg.timezone).to_rfc3339();
    let mut all = Vec::new();
    let (claims, mut problems) = writable_roots(Some(&cfg), roots);
    for c in &claims {
        let root = &c.root;
        match retention::plan(root, None, &cfg.retention, cfg.timezone) {
            Ok(mut items) => {
                if !dry_run {
                    // Recorded before each removal starts (see prune_target in backup/run.rs).
                    retention::apply(root, &mut items, &mut |i| {
                        if let Some(cat) = &catalog {
                            if let Err(e) = cat.record_pruned(
                                &i.target,
                                &i.path,
                                &i.source,
                                &i.started_at,
                                &now,
                            ) {
                                log::warn!("{e}");
                            }
                        }
                    });
                }
                all.extend(items);
            }
            Err(e) => problems.push(format!("cannot read target {e}")),
        }
    }
    if let Some(cat) = &catalog {
        for i in all.iter().filter(|i| matches!(i.removed, Some(Ok(())))) {
            crate::audit::record(cat, &crate::audit::cli_actor(), "prune", i);
        }
    }
    for i in &all {
        if let Some(Err(e)) = &i.removed {
            problems.push(e.clone());
        }
    }
    let mut out = std::io::stdout().lock();
    if json {
        let text = serde_json::to_string_pretty(&all).unwrap_or_else(|_| "[]".into());
        let _ = writeln!(out, "{text}");
    } else {
        for i in &all {
            let action = match (&i.removed, i.decision.keep()) {
                (_, true) => "keep  ",
                (None, false) => "remove",
                (Some(Ok(())), false) => "REMOVED",
                (Some(Err(_)), false) => "FAILED",
            };
            let _ = writeln!(
                out,
                "{action:<7} {:<12} {:<25} {}",
                i.decision.as_str(),
                i.started_at,
                i.path
            );
            if let Some(p) = &i.problem {
                let _ = writeln!(out, "        {p}");
            }
        }
        if dry_run {
            let _ = writeln!(
                out,
                "dry run: nothing was removed ({} would free {})",
                all.iter().filter(|i| !i.decision.keep()).count(),
                human_bytes(retention::reclaimable(&all))
            );
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Failure::Failed(problems.join("\n")))
    }
}

fn cmd_keygen(out: &Path) -> Result<(), Failure> {
    use age::secrecy::ExposeSecret;
    use std::os::unix::fs::OpenOptionsExt;
    let id = age::x25519::Identity::generate();
    let public = id.to_public().to_string();
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let text = format!(
        "# created: {now}\n# public key: {public}\n{}\n",
        id.to_string().expose_secret()
    );
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)
        .map_err(|e| {
            Failure::Failed(format!(
                "cannot create {}: {e} (it must not exist yet; keys are never overwritten)",
                out.display()
            ))
        })?;
    f.write_all(text.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| Failure::Failed(format!("cannot write {}: {e}", out.display())))?;
    println!("Private key written to {} (mode 0600).", out.display());
    println!();
    println!("Put this line into the [encryption] section of the appliance's config:");
    println!();
    println!("    recipients = [\"{public}\"]");
    println!();
    eprintln!(
        "IMPORTANT: move {} OFF the appliance and keep it safe (two copies, e.g. a sealed envelope\n\
         in the head of unit's safe and IT Support's password manager). Without it, the encrypted\n\
         copies cannot be restored; with it, anyone can read the donor data.",
        out.display()
    );
    Ok(())
}

fn cmd_restore(file: &Path, to_stdout: bool, identity: Option<&Path>) -> Result<(), Failure> {
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

#[derive(Serialize)]
struct SourceStatus {
    source: String,
    kind: String,
    interval_seconds: u64,
    last_run: Option<crate::catalog::RunRow>,
    last_ok: Option<crate::catalog::RunRow>,
}

fn cmd_status(config_path: &Path, json: bool) -> Result<(), Failure> {
    let cfg = load(config_path)?;
    if let Some(sock) = daemon_socket(&cfg) {
        let r = control::request(
            &sock,
            &Request::Status,
            Some(std::time::Duration::from_secs(30)),
        )
        .map_err(Failure::Failed)?;
        if json {
            return print_catalog_status_json(&cfg, r.data.unwrap_or(serde_json::Value::Null));
        }
        println!("daemon: {}", r.message);
        return print_catalog_status(&cfg);
    }
    if json {
        return print_catalog_status_json(&cfg, serde_json::Value::Null);
    }
    print_catalog_status(&cfg)
}

/// `{"daemon": what the running daemon reports (or null), "sources": the catalog's view}`
fn print_catalog_status_json(cfg: &Config, daemon: serde_json::Value) -> Result<(), Failure> {
    let list = catalog_status(cfg)?;
    let text =
        serde_json::to_string_pretty(&serde_json::json!({ "daemon": daemon, "sources": list }))
            .unwrap_or_else(|_| "{}".into());
    println!("{text}");
    Ok(())
}

fn catalog_status(cfg: &Config) -> Result<Vec<SourceStatus>, Failure> {
    let catalog = Catalog::open(&cfg.state_dir).map_err(|e| Failure::Failed(e.to_string()))?;
    let mut list = Vec::new();
    for s in &cfg.sources {
        let (last_run, last_ok) = catalog
            .last_runs(&s.name)
            .map_err(|e| Failure::Failed(e.to_string()))?;
        list.push(SourceStatus {
            source: s.name.clone(),
            kind: s.kind.as_str().to_string(),
            interval_seconds: s.interval.as_secs(),
            last_run,
            last_ok,
        });
    }
    Ok(list)
}

fn print_catalog_status(cfg: &Config) -> Result<(), Failure> {
    let list = catalog_status(cfg)?;
    let mut out = std::io::stdout().lock();
    for s in &list {
        let _ = writeln!(
            out,
            "{} ({}, every {}s)",
            s.source, s.kind, s.interval_seconds
        );
        match &s.last_run {
            None => {
                let _ = writeln!(out, "  last run:    never");
            }
            Some(r) => {
                let _ = writeln!(
                    out,
                    "  last run:    {} {} ({} of {} copies){}",
                    r.started_at,
                    r.status.to_uppercase(),
                    r.copies_ok,
                    r.copies_total,
                    r.reason
                        .as_deref()
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default()
                );
            }
        }
        match &s.last_ok {
            None => {
                let _ = writeln!(out, "  last good:   never");
            }
            Some(r) => {
                let _ = writeln!(
                    out,
                    "  last good:   {} ({})",
                    r.started_at,
                    human_bytes(r.bytes_stored.unwrap_or(0))
                );
            }
        }
    }
    Ok(())
}

fn cmd_disks(config_path: &Path, json: bool) -> Result<(), Failure> {
    let cfg = load(config_path)?;
    let views = Disks::new(&cfg).list().map_err(Failure::Failed)?;
    let mut out = std::io::stdout().lock();
    if json {
        let text = serde_json::to_string_pretty(&views).unwrap_or_else(|_| "[]".into());
        let _ = writeln!(out, "{text}");
        return Ok(());
    }
    if views.is_empty() {
        let _ = writeln!(out, "no disks found");
    }
    for v in &views {
        let role = match v.role {
            Some(r) => r.as_str(),
            None => "UNKNOWN",
        };
        let _ = writeln!(
            out,
            "{:<12} {:<14} {:<6} {:<8} {:>10}  free {:>10}  {}{}  last backup {}",
            v.devnode.display(),
            if v.label.is_empty() {
                "-"
            } else {
                v.label.as_str()
            },
            v.fs_type.as_deref().unwrap_or("-"),
            role,
            human_bytes(v.size_bytes),
            v.free_bytes.map(human_bytes).unwrap_or_else(|| "?".into()),
            match (v.not_answering, v.mounted_at.is_some()) {
                (true, _) => "NOT ANSWERING",
                (false, true) => "mounted",
                (false, false) => "not mounted",
            },
            v.driver
                .as_deref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default(),
            v.last_backup.as_deref().unwrap_or("never")
        );
        if let Some(p) = &v.problem {
            let _ = writeln!(out, "             {p}");
        }
    }
    Ok(())
}

fn find_device(spec: &Path) -> Result<crate::disks::device::BlockDev, Failure> {
    let canon = std::fs::canonicalize(spec).unwrap_or_else(|_| spec.to_path_buf());
    crate::disks::device::enumerate()
        .map_err(|e| Failure::Failed(format!("cannot list block devices: {e}")))?
        .into_iter()
        .find(|d| d.devnode == canon || d.devnode == spec)
        .ok_or_else(|| {
            Failure::Usage(format!(
                "{} is not a block device udev knows",
                spec.display()
            ))
        })
}

fn cmd_enroll(
    config_path: &Path,
    spec: &Path,
    role: Role,
    label: Option<&str>,
    force: bool,
) -> Result<(), Failure> {
    use crate::disks::marker::{self, Marker, MarkerRead};
    use crate::safe_fs::Dir;
    let cfg = load(config_path)?;
    let now = chrono::Utc::now().with_timezone(&cfg.timezone).to_rfc3339();
    let write_marker = |root: &Path, fs_label: Option<&str>| -> Result<Marker, Failure> {
        let dir =
            Dir::open(root).map_err(|e| Failure::Failed(format!("{}: {e}", root.display())))?;
        if let MarkerRead::Present(m) = marker::read(&dir) {
            if !force {
                return Err(Failure::Usage(format!(
                    "this disk is already enrolled as {} (\"{}\", id {}); add --force to replace the marker",
                    m.role.as_str(),
                    m.label,
                    m.id
                )));
            }
        }
        let m = Marker {
            id: marker::new_id(),
            role,
            label: marker::display_label(label.or(fs_label).unwrap_or("")),
            enrolled_at: now.clone(),
        };
        marker::write(&dir, &m).map_err(|e| {
            Failure::Failed(crate::backup::writer::describe_io(
                root,
                "writing the enrollment marker",
                &e,
            ))
        })?;
        Ok(m)
    };
    let m = if spec.is_dir() {
        write_marker(spec, None)?
    } else {
        if daemon_socket(&cfg).is_some() {
            return Err(Failure::Usage(
                "the daemon is running and manages the disks: stop it (`systemctl stop simdondar-backup`) before enrolling a device, or enroll through a folder where the disk is mounted".into(),
            ));
        }
        let dev = find_device(spec)?;
        let Some(fs_type) = dev.fs_type.clone() else {
            return Err(Failure::Usage(format!(
                "{} has no file system: format it first (this program never formats disks)",
                spec.display()
            )));
        };
        let disks = Disks::new(&cfg);
        let point = disks.mount_dir().join(dev.mount_name());
        let mounted_here = crate::disks::mount::mount_at(&point).is_none();
        if mounted_here {
            crate::disks::mount::mount(&dev.devnode, &fs_type, &point, false)
                .map_err(|e| Failure::Failed(e.to_string()))?;
        }
        let res = write_marker(&point, dev.fs_label.as_deref());
        if mounted_here {
            if let Err(e) = disks.eject(&point, None, false) {
                log::warn!("{e}");
            }
        }
        res?
    };
    crate::audit::record_in(
        &cfg.state_dir,
        &crate::audit::cli_actor(),
        "disk-enroll",
        &serde_json::json!({ "device": spec.display().to_string(), "marker": m }),
    );
    println!(
        "enrolled as {} (label \"{}\", id {}): backups will be written to this disk",
        m.role.as_str(),
        m.label,
        m.id
    );
    Ok(())
}

fn cmd_key(config_path: &Path, command: &KeyCommand) -> Result<(), Failure> {
    use crate::keycheck;
    let cfg = load(config_path)?;
    let catalog = Catalog::open(&cfg.state_dir).map_err(|e| Failure::Failed(e.to_string()))?;
    let now = chrono::Utc::now();
    let failed = |e: keycheck::KeyCheckError| match e {
        keycheck::KeyCheckError::NoRecipients | keycheck::KeyCheckError::BadRecipient(_) => {
            Failure::Usage(e.to_string())
        }
        _ => Failure::Failed(e.to_string()),
    };
    match command {
        KeyCommand::Challenge { target } => {
            let abs = std::path::absolute(target).unwrap_or_else(|_| target.clone());
            let c = claim::claim(Some(&cfg), &abs).map_err(|e| Failure::Usage(e.to_string()))?;
            if c.role != Role::Manual {
                return Err(Failure::Usage(format!(
                    "{} is an {} disk: key checks go onto a manual disk (the one carried to the key holder)",
                    abs.display(),
                    c.role.as_str()
                )));
            }
            let issued =
                keycheck::issue(&catalog, &cfg.encryption.recipients, &abs, now).map_err(failed)?;
            for i in &issued {
                println!(
                    "key check {} for {}: {}",
                    i.id,
                    i.recipient,
                    abs.join(&i.file).display()
                );
            }
            println!(
                "the key holder decrypts it with `age -d -i KEYFILE FILE` and types the words here: simdondar-backup key confirm WORD…"
            );
            Ok(())
        }
        KeyCommand::Confirm { words } => {
            let row = keycheck::confirm(&catalog, &crate::audit::cli_actor(), words, now)
                .map_err(failed)?;
            println!(
                "key confirmed: {} can decrypt (check {}, issued {})",
                row.recipient, row.id, row.issued_at
            );
            Ok(())
        }
        KeyCommand::Status { json } => {
            let list =
                keycheck::status(&catalog, &cfg.encryption.recipients, now).map_err(failed)?;
            if *json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&list).unwrap_or_else(|_| "[]".into())
                );
            } else if list.is_empty() {
                println!("no [encryption] recipients are configured: there is no key to check");
            }
            if !*json {
                for s in &list {
                    println!(
                        "{}  {}{}",
                        s.recipient,
                        match (&s.confirmed_at, s.days) {
                            (Some(at), Some(d)) => format!("confirmed {at} ({d} days ago)"),
                            _ => "never confirmed".into(),
                        },
                        match (s.due, &s.open) {
                            (true, Some(id)) =>
                                format!("  DUE: challenge {id} waits for its words"),
                            (true, None) =>
                                "  DUE: write a challenge with `key challenge --target DIR`".into(),
                            (false, _) => String::new(),
                        }
                    );
                }
            }
            Ok(())
        }
    }
}

fn cmd_eject(config_path: &Path, which: Option<&str>) -> Result<(), Failure> {
    let cfg = load(config_path)?;
    if let Some(sock) = daemon_socket(&cfg) {
        return ask_daemon(
            &sock,
            &Request::Eject {
                disk: which.map(String::from),
            },
            // The daemon ejects every disk at once under one deadline and answers by then,
            // naming any disk still busy (issue 18).
            Some(crate::disks::RELEASE_WAIT + crate::disks::EJECT_REPLY_MARGIN),
        );
    }
    let disks = Disks::new(&cfg);
    let dir = disks.mount_dir();
    let devs = crate::disks::device::enumerate().unwrap_or_default();
    let mounted: Vec<_> = crate::disks::mount::mounts()
        .into_iter()
        .filter(|m| m.mount_point.parent() == Some(dir.as_path()))
        .collect();
    let mut chosen = Vec::new();
    for m in &mounted {
        let dev = devs.iter().find(|d| {
            d.devnum == m.devnum
                || Path::new(&m.source) == d.devnode
                || dir.join(d.mount_name()) == m.mount_point
        });
        let matches = match which {
            None => true,
            Some(w) => {
                Path::new(w) == m.mount_point
                    || dev.is_some_and(|d| {
                        d.devnode == Path::new(w)
                            || d.fs_uuid.as_deref() == Some(w)
                            || d.fs_label.as_deref() == Some(w)
                    })
            }
        };
        if matches {
            chosen.push((m.mount_point.clone(), dev.cloned()));
        }
    }
    if chosen.is_empty() {
        return Err(Failure::Usage(match which {
            Some(w) => format!("no disk mounted by the appliance matches \"{w}\""),
            None => "no disk is mounted by the appliance: it is already safe to remove".into(),
        }));
    }
    // Every disk at once, under one deadline (issue 18).
    let deadline = std::time::Instant::now() + crate::disks::RELEASE_WAIT;
    let results = std::sync::Mutex::new(Vec::new());
    disks.eject_all(&chosen, true, deadline, |i, res| {
        if let Ok(mut r) = results.lock() {
            r.push((i, res));
        }
    });
    let mut results = results.into_inner().unwrap_or_default();
    // In the order the disks were chosen.
    results.sort_by_key(|(i, _)| *i);
    let mut problems = Vec::new();
    for (i, res) in results {
        let (point, dev) = &chosen[i];
        let name = dev
            .as_ref()
            .map(|d| {
                format!(
                    "{} ({})",
                    d.fs_label
                        .as_deref()
                        .map(crate::disks::marker::display_label)
                        .unwrap_or_default(),
                    d.devnode.display()
                )
            })
            .unwrap_or_else(|| point.display().to_string());
        crate::audit::record_in(
            &cfg.state_dir,
            &crate::audit::cli_actor(),
            "disk-eject",
            &serde_json::json!({ "disk": name, "ok": res.is_ok(), "error": res.as_ref().err().map(|e| e.message.as_str()), "failure": res.as_ref().err().map(|e| e.kind) }),
        );
        match res {
            Ok(e) => {
                println!(
                    "SAFE TO REMOVE  {name}{}{}",
                    if e.powered_off { ", powered down" } else { "" },
                    if e.lazy {
                        " (it was busy: detached, and released once the last program let go)"
                    } else {
                        ""
                    }
                );
            }
            Err(e) => problems.push(format!("{name}: {e}; do not remove it yet")),
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Failure::Failed(problems.join("\n")))
    }
}

fn cmd_audit_verify(config_path: &Path, targets: &[PathBuf]) -> Result<(), Failure> {
    use crate::audit_anchor::{self, Check};
    let cfg = load(config_path)?;
    let cat = Catalog::open(&cfg.state_dir).map_err(|e| Failure::Failed(e.to_string()))?;
    let rows = cat
        .audit_entries()
        .map_err(|e| Failure::Failed(e.to_string()))?;
    let n = crate::audit::verify_chain(&rows).map_err(|b| {
        Failure::Failed(format!(
            "the audit log was tampered with: {b}; keep this catalog as evidence and report it"
        ))
    })?;
    // Where anchors may be: the given roots, the configured targets, the disks mounted now.
    let mut roots: Vec<PathBuf> = targets
        .iter()
        .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
        .collect();
    roots.extend(cfg.targets.iter().map(|t| t.path.clone()));
    if let Ok(rd) = std::fs::read_dir(Disks::new(&cfg).mount_dir()) {
        let mounted: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
        roots.extend(
            mounted
                .into_iter()
                .filter(|p| crate::disks::mount::mount_at(p).is_some()),
        );
    }
    let chain = rows.first().filter(|r| r.id == 1).map(|r| r.hash.as_str());
    let (newest, notes) = audit_anchor::newest_on(&roots, chain);
    for note in &notes {
        eprintln!("note: {note}");
    }
    let last = rows.last().map(|r| r.at.as_str()).unwrap_or("-");
    let Some((root, anchor)) = newest else {
        println!(
            "audit log intact: {n} entries, the last one {last}; no disk anchor found to check its end against (looked at {} folder(s))",
            roots.len()
        );
        return Ok(());
    };
    match audit_anchor::check(&rows, &anchor) {
        Check::Holds => {
            println!(
                "audit log intact: {n} entries, the last one {last}; it holds entry {} as the disk at {} saw it",
                anchor.id,
                root.display()
            );
            Ok(())
        }
        Check::Truncated { from, to } => Err(Failure::Failed(format!(
            "the audit log was cut short: entries {from} to {to} are missing; the disk at {} saw entry {} (written {}), the catalog ends at entry {}; keep this catalog and the disk as evidence and report it",
            root.display(),
            anchor.id,
            anchor.at,
            from - 1
        ))),
        Check::Rewritten => Err(Failure::Failed(format!(
            "the audit log was rewritten: entry {} differs from what the disk at {} saw ({}); keep this catalog and the disk as evidence and report it",
            anchor.id,
            root.display(),
            anchor.at
        ))),
        Check::Replaced => Err(Failure::Failed(format!(
            "the audit log was replaced: the disk at {} holds this unit's anchor of another log (entry {}, written {}); keep this catalog and the disk as evidence and report it",
            root.display(),
            anchor.id,
            anchor.at
        ))),
        // newest_on only returns anchors of this chain or unit; said all the same.
        Check::OtherChain => {
            println!(
                "audit log intact: {n} entries, the last one {last}; the anchor on {} is another appliance's",
                root.display()
            );
            Ok(())
        }
    }
}

fn cmd_report(
    config_path: &Path,
    from: &str,
    to: &str,
    format: ReportFormat,
) -> Result<(), Failure> {
    let cfg = load(config_path)?;
    let parse = |s: &str, what: &str| {
        chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map_err(|_| Failure::Usage(format!("--{what} {s}: write the date as YYYY-MM-DD")))
    };
    let (from, to) = (parse(from, "from")?, parse(to, "to")?);
    let cat = Catalog::open(&cfg.state_dir).map_err(|e| Failure::Failed(e.to_string()))?;
    let r = crate::report::sop_report(&cat, &cfg, from, to).map_err(|e| match e {
        crate::report::ReportError::Period { .. } | crate::report::ReportError::TooLong { .. } => {
            Failure::Usage(e.to_string())
        }
        e => Failure::Failed(e.to_string()),
    })?;
    let text = match format {
        ReportFormat::Csv => r.to_csv(),
        ReportFormat::Html => r.to_html(),
    };
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .map_err(|e| Failure::Failed(format!("cannot write the report: {e}")))
}

fn cmd_restore_test(
    config_path: &Path,
    targets: &[PathBuf],
    file: Option<&Path>,
) -> Result<(), Failure> {
    let cfg = load(config_path)?;
    let cat = Catalog::open(&cfg.state_dir).map_err(|e| Failure::Failed(e.to_string()))?;
    let backups: Vec<PathBuf> = match file {
        Some(f) => vec![f.to_path_buf()],
        None => {
            let mut roots = target_roots(Some(&cfg), targets).unwrap_or_default();
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

fn run_restore_tests(cfg: &Config, cat: &Catalog, backups: Vec<PathBuf>) -> Result<(), Failure> {
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

fn cmd_config_check(config_path: &Path, connect: bool) -> Result<(), Failure> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_valid() {
        Cli::command().debug_assert();
    }
}
