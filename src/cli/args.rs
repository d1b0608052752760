/*!
The command line's definitions (clap): every command, its arguments and their help texts. The man
pages and shell completions are generated from these (`simdondar-gen-assets`).
*/

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::{self, Role};

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
    /// Off-site copies to S3-compatible stores (`[[offsite]]`, docs/offsite.md).
    Offsite {
        #[command(subcommand)]
        command: OffsiteCommand,
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
pub enum OffsiteCommand {
    /// One pass now: resume unfinished uploads, send the backups the schedule chooses (encrypted,
    /// verified by read-back), re-check remote copies that are due. Exit 1 when a store failed.
    Push {
        /// Take backups from this target root (repeatable); default: the configured targets.
        #[arg(long = "target", value_name = "DIR")]
        targets: Vec<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The remote copies recorded as verified, unfinished uploads and each store's last pass.
    List {
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
