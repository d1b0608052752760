/*!
The configuration file (TOML, DESIGN.md §3): parsing, defaults and validation.

Every error names the file, the line and the column of the offending value and says what to do.
Unknown keys are errors (a typo must never silently disable a setting), and a password file that
other users can read is an error. The raw serde structs mirror the file ([`raw`]); [`check`] checks them into [`Config`], the
checked, typed result the rest of the program uses, defined here.
*/

use std::fmt;
use std::ops::Range;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

mod check;
pub mod offsite;
mod raw;

pub use offsite::{OffsiteConfig, OffsiteSchedule, S3Credentials};

use check::Checker;
use raw::RawConfig;

/// Where the configuration lives when `--config` is not given.
pub const DEFAULT_PATH: &str = "/etc/simdondar-backup/config.toml";

/// The SOP's floor: at least five distinct backups are kept.
pub const SOP_MIN_KEEP: u32 = 5;

/// Where the catalog lives when `state_dir` is not set.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/simdondar-backup";

/// A configuration problem, located in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The configuration file.
    pub file: PathBuf,
    /// 1-based line of the offending value (0 when the problem is not tied to a place).
    pub line: usize,
    /// 1-based column (in characters) of the offending value.
    pub column: usize,
    /// What is wrong and what to do about it.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file.display(),
                self.line,
                self.column,
                self.message
            )
        }
    }
}

impl std::error::Error for ConfigError {}

/// File-system labels starting with this enroll a disk as manual unless `[disks] label_prefix`
/// says otherwise.
pub const DEFAULT_LABEL_PREFIX: &str = "SIMBAK";

/// The role of a target: automatic (stays attached) or manual (carried away).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Permanently attached; receives the scheduled backups.
    Auto,
    /// Plugged in by IT Support for a manual copy, then carried away.
    Manual,
}

impl Role {
    /// The word used in files and on screen.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Auto => "auto",
            Role::Manual => "manual",
        }
    }
}

/// How a MySQL/MariaDB dump is made consistent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Consistency {
    /// Inspect the table engines and choose (see `docs/mysql-dump.md`).
    Auto,
    /// `--single-transaction`: a consistent snapshot of transactional tables, no locks.
    SingleTransaction,
    /// `--lock-tables`: every database read-locked while it is dumped.
    LockTables,
}

/// Where the database server is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbAddress {
    /// A local unix socket.
    Socket(PathBuf),
    /// A TCP host and port.
    Tcp { host: String, port: u16 },
}

impl fmt::Display for DbAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbAddress::Socket(p) => write!(f, "socket {}", p.display()),
            DbAddress::Tcp { host, port } => write!(f, "{host}:{port}"),
        }
    }
}

/// A `mysql` source: databases dumped with `mariadb-dump`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MysqlSource {
    pub address: DbAddress,
    pub user: String,
    pub password_file: Option<PathBuf>,
    pub databases: Vec<String>,
    pub consistency: Consistency,
    /// Explicit dump tool; `None` means `mariadb-dump`, falling back to `mysqldump`.
    pub dump_tool: Option<PathBuf>,
}

/// A `command` source: any program whose standard output is the backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandSource {
    /// The program and its arguments (no shell).
    pub argv: Vec<String>,
    /// The file extension of the stream before compression, e.g. `tar` or `sql`.
    pub extension: String,
}

/// An `ssh-tar` source: `tar` of a remote directory streamed over OpenSSH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarSource {
    pub host: String,
    pub port: u16,
    pub user: String,
    /// The private key (not readable by others).
    pub key_file: PathBuf,
    /// The pinned host key(s), in `known_hosts` format; nothing else is trusted.
    pub known_hosts: PathBuf,
    /// The remote directory, e.g. `/var/www/simudda`.
    pub path: String,
}

/// What a source is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    Mysql(MysqlSource),
    Command(CommandSource),
    SshTar(SshTarSource),
}

impl SourceKind {
    /// The word used in manifests and the catalog.
    pub fn as_str(&self) -> &'static str {
        match self {
            SourceKind::Mysql(_) => "mysql",
            SourceKind::Command(_) => "command",
            SourceKind::SshTar(_) => "ssh-tar",
        }
    }
}

/// One thing to back up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceConfig {
    /// Used in paths and file names: lowercase letters, digits, `-` and `_`.
    pub name: String,
    pub kind: SourceKind,
    pub interval: Duration,
}

/// A static directory target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetConfig {
    pub path: PathBuf,
    pub role: Role,
}

/// `[schedule]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleConfig {
    pub manual_reminder: Duration,
    /// How often the daemon restores the newest backups into a throw-away MariaDB (0: never).
    pub restore_test: Option<Duration>,
    /// How often the daemon re-verifies every copy on every attached disk (0: never).
    pub scrub: Option<Duration>,
}

/// `[disks]`: which block devices are candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiskMatch {
    Usb,
    Any,
}

/// `[disks]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisksConfig {
    pub match_: DiskMatch,
    pub label_prefix: String,
    /// Data files on FAT are split into parts of at most this many bytes (default 4 GiB − 1).
    pub fat_split_size: u64,
}

/// `[encryption]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptionConfig {
    pub recipients: Vec<String>,
    pub require_for: Vec<Role>,
}

/// Which front panel drives the LEDs and the OLED.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PanelKind {
    Hardware,
    Sim,
    None,
}

/// `[retention]` (Proxmox semantics; `min_keep` is the SOP's floor).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionConfig {
    pub keep_last: u32,
    pub keep_hourly: u32,
    pub keep_daily: u32,
    pub keep_weekly: u32,
    pub keep_monthly: u32,
    pub keep_yearly: u32,
    pub min_keep: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            keep_last: 24,
            keep_hourly: 48,
            keep_daily: 35,
            keep_weekly: 12,
            keep_monthly: 24,
            keep_yearly: 5,
            min_keep: SOP_MIN_KEEP,
        }
    }
}

/// `[compression]`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompressionConfig {
    /// zstd level, 1..=19.
    pub level: i32,
    /// zstd worker threads; 0 means automatic (`pipeline::workers_for`: 2 cores → 2, 4 → 3, at most 4).
    pub threads: u32,
}

/// `[agent]`: the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentConfig {
    /// Scheduled runs start this long after the slot boundary (e.g. 2 minutes past the hour).
    pub schedule_offset: Duration,
    /// The group that may use the control socket (besides root).
    pub socket_group: Option<String>,
    /// A target, a source or a disk call that makes no progress this long is dropped
    /// (DESIGN.md §4.8).
    pub stall_timeout: Duration,
}

/// How the alert mail's SMTP connection is protected (`[notify] smtp_tls`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// STARTTLS, required: a relay that does not offer it gets no mail (and no password).
    #[default]
    StartTls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Tls,
    /// STARTTLS when the relay offers it, plain SMTP otherwise (a LAN relay without a login).
    Opportunistic,
}

impl SmtpTls {
    /// The word used in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            SmtpTls::StartTls => "starttls",
            SmtpTls::Tls => "tls",
            SmtpTls::Opportunistic => "opportunistic",
        }
    }
}

/// `[notify]`: optional messages on failure and on recovery.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NotifyConfig {
    /// POSTed a JSON body (`{"text": …, "recovered": bool, "host": …}`) by `curl`, which gets the
    /// URL on its standard input (it often holds a bot token).
    pub webhook: Option<String>,
    /// `host:port` of the SMTP relay.
    pub smtp_relay: Option<String>,
    /// How the SMTP connection is protected.
    pub smtp_tls: SmtpTls,
    /// The relay login: a 0600 TOML file with `username` and `password` ([`SmtpCredentials`]).
    pub smtp_credentials: Option<PathBuf>,
    /// A PEM CA certificate: when set, the only CA trusted for the relay (a private relay).
    pub smtp_ca_file: Option<PathBuf>,
    pub mail_from: Option<String>,
    pub mail_to: Vec<String>,
}

impl NotifyConfig {
    /// Whether the configuration file itself holds something secret-bearing here (a webhook URL,
    /// the relay's settings): then it must not be readable by every user.
    pub fn holds_secrets(&self) -> bool {
        self.webhook.is_some() || self.smtp_relay.is_some()
    }
}

/// Reads a small TOML file of secrets (the SMTP login, the S3 key) into `T`; the error says what
/// is wrong, with line and column for TOML.
fn read_secret_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot be read: {e}"))?;
    toml::from_str(&text).map_err(|e| {
        let at = e
            .span()
            .map(|s| {
                let (l, c) = line_col(&text, s.start);
                format!("line {l}, column {c}: ")
            })
            .unwrap_or_default();
        format!("{at}{}", tidy_toml_message(e.message()))
    })
}

/// The SMTP relay's login, read from `smtp_credentials` when a mail is sent (never kept in
/// [`Config`]). The file is TOML: `username = "…"` and `password = "…"`.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpCredentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for SmtpCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpCredentials")
            .field("username", &self.username)
            .field("password", &"…")
            .finish()
    }
}

impl SmtpCredentials {
    /// Reads and checks the file; the error says what is wrong (line and column for TOML).
    pub fn load(path: &Path) -> Result<SmtpCredentials, String> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            username: String,
            password: String,
        }
        let raw: Raw = read_secret_toml(path)?;
        if raw.username.is_empty() || raw.password.is_empty() {
            return Err("username and password must not be empty".into());
        }
        Ok(SmtpCredentials {
            username: raw.username,
            password: raw.password,
        })
    }
}

/// `[metrics]`: the Prometheus metrics of fleet health (docs/fleet.md). Both off by default.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetricsConfig {
    /// A node_exporter textfile (`….prom`), rewritten atomically; `None`: not written.
    pub textfile: Option<PathBuf>,
    /// Where the HTTP `/metrics` listener binds; `None`: no listener.
    pub listen: Option<std::net::SocketAddr>,
}

/// `[panel] gpio_chip`: the GPIO character device chip of the LEDs and the button.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GpioChip {
    /// Numbers are BCM offsets on the chip with a line named `GPIO17` (the Raspberry Pi's
    /// header); a line given by name is looked for on every chip.
    Auto,
    /// A path (`/dev/gpiochip0`), a name (`gpiochip0`), a number (`0`) or a label
    /// (`pinctrl-bcm2711`), as `gpioinfo` shows them.
    Given(String),
}

/// `[panel] button_pressed`: the level the button's line reads while pressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ButtonPressed {
    /// A contact to GND with the pull-up (the default wiring).
    Low,
    /// A contact to 3.3 V with the pull-down, or a line driven high while pressed.
    High,
}

/// `[panel]` hardware settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PanelHw {
    pub i2c_device: PathBuf,
    pub i2c_address: u16,
    pub gpio_chip: GpioChip,
    /// Line offsets: BCM numbers with `gpio_chip = "auto"`.
    pub led_green: u32,
    pub led_amber: u32,
    pub led_red: u32,
    pub button: u32,
    /// Line names that replace the numbers (`led_green_line = "GPIO17"`).
    pub led_green_line: Option<String>,
    pub led_amber_line: Option<String>,
    pub led_red_line: Option<String>,
    pub button_line: Option<String>,
    pub button_pressed: ButtonPressed,
    pub long_press: Duration,
    pub idle_dim: Duration,
}

impl Default for PanelHw {
    fn default() -> Self {
        PanelHw {
            i2c_device: PathBuf::from("/dev/i2c-1"),
            i2c_address: 0x3C,
            gpio_chip: GpioChip::Auto,
            led_green: 17,
            led_amber: 27,
            led_red: 22,
            button: 23,
            led_green_line: None,
            led_amber_line: None,
            led_red_line: None,
            button_line: None,
            button_pressed: ButtonPressed::Low,
            long_press: Duration::from_secs(3),
            idle_dim: Duration::from_secs(600),
        }
    }
}

/// The language of the panel and the reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Id,
    En,
}

/// The checked configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file it was read from.
    pub path: PathBuf,
    pub timezone: chrono_tz::Tz,
    pub language: Language,
    pub state_dir: PathBuf,
    pub runtime_dir: PathBuf,
    pub sources: Vec<SourceConfig>,
    pub schedule: ScheduleConfig,
    pub targets: Vec<TargetConfig>,
    pub disks: DisksConfig,
    pub encryption: EncryptionConfig,
    pub panel: PanelKind,
    pub panel_hw: PanelHw,
    pub retention: RetentionConfig,
    pub compression: CompressionConfig,
    pub agent: AgentConfig,
    pub notify: NotifyConfig,
    /// `[[offsite]]`: S3-compatible stores that receive encrypted copies (docs/offsite.md).
    pub offsite: Vec<OffsiteConfig>,
    pub metrics: MetricsConfig,
}

impl Config {
    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            line: 0,
            column: 0,
            message: format!(
                "cannot read the configuration file: {e} (give another one with --config PATH)"
            ),
        })?;
        Config::parse(path, &text)
    }

    /// Parses and checks configuration text; `path` is used in messages and to resolve nothing else.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((0, 0));
            ConfigError {
                file: path.to_path_buf(),
                line,
                column,
                message: tidy_toml_message(e.message()),
            }
        })?;
        Checker { path, text }.check(raw)
    }

    /// The source with this name.
    pub fn source(&self, name: &str) -> Option<&SourceConfig> {
        self.sources.iter().find(|s| s.name == name)
    }
}

/// Who can read a secret-bearing file besides root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readers {
    /// Every local user (the "other" read bit).
    Everyone,
    /// The members of this group (the group read bit, a group other than root).
    Group(String),
}

/// A secret-bearing file more users can read than should: a warning of `config check` and of
/// the daemon's start, not an error (the appliance keeps working; the fix is one command).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exposure {
    /// The configuration key that names the file (`config` for the configuration itself).
    pub key: &'static str,
    pub path: PathBuf,
    /// The permission bits (`0o644`).
    pub mode: u32,
    pub readers: Readers,
    /// The mode it should have: 0640 (root:simdondar) for the configuration, 0600 for the rest.
    pub wanted: u32,
}

impl fmt::Display for Exposure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.key == "config" {
            "the configuration holds a webhook URL or SMTP settings and".to_string()
        } else {
            format!("{} holds a secret and", self.key)
        };
        let who = match &self.readers {
            Readers::Everyone => "every user".to_string(),
            Readers::Group(g) => format!("the members of group {g}"),
        };
        write!(
            f,
            "{} {what} is readable by {who} (mode {:04o}): run `chmod {:04o} {}`",
            self.path.display(),
            self.mode,
            self.wanted,
            self.path.display()
        )?;
        if self.key == "config" {
            write!(f, " (owner root, group simdondar)")?;
        }
        Ok(())
    }
}

/// The secret-bearing files of `cfg` that more users can read than should: the configuration
/// itself when it holds a webhook URL or SMTP settings (readable by every user), and
/// `password_file`, `key_file` and `smtp_credentials` (readable by every user, or by a group
/// other than root). A file that cannot be examined is left out (loading reports it).
pub fn exposed_secret_files(cfg: &Config) -> Vec<Exposure> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    let mut look = |key: &'static str, path: &Path, group_ok: bool, wanted: u32| {
        let Ok(meta) = std::fs::metadata(path) else {
            return;
        };
        let mode = meta.mode() & 0o777;
        let readers = if mode & 0o004 != 0 {
            Readers::Everyone
        } else if mode & 0o040 != 0 && !group_ok && meta.gid() != 0 {
            let name = nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(meta.gid()))
                .ok()
                .flatten()
                .map(|g| g.name)
                .unwrap_or_else(|| meta.gid().to_string());
            Readers::Group(name)
        } else {
            return;
        };
        out.push(Exposure {
            key,
            path: path.to_path_buf(),
            mode,
            readers,
            wanted,
        });
    };
    if cfg.notify.holds_secrets() {
        look("config", &cfg.path, true, 0o640);
    }
    for s in &cfg.sources {
        match &s.kind {
            SourceKind::Mysql(m) => {
                if let Some(p) = &m.password_file {
                    look("password_file", p, false, 0o600);
                }
            }
            SourceKind::SshTar(t) => look("key_file", &t.key_file, false, 0o600),
            SourceKind::Command(_) => {}
        }
    }
    if let Some(p) = &cfg.notify.smtp_credentials {
        look("smtp_credentials", p, false, 0o600);
    }
    out
}

/// Turns a byte offset into a 1-based (line, column in characters).
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = before
        .get(line_start..)
        .map(|s| s.chars().count())
        .unwrap_or(0)
        + 1;
    (line, column)
}

fn tidy_toml_message(msg: &str) -> String {
    let msg = msg.trim();
    if let Some(rest) = msg.strip_prefix("unknown field ") {
        format!("unknown key {rest} (check the spelling; see docs/configuration.md)")
    } else {
        msg.to_string()
    }
}

/// Parses a size such as `4096`, `512K`, `64MiB`, `2G` (binary units).
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" | "kb" => 1 << 10,
        "m" | "mib" | "mb" => 1 << 20,
        "g" | "gib" | "gb" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// Parses a duration such as `90s`, `30m`, `1h`, `1h30m`, `1d`, `2w`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty duration: write e.g. \"30m\", \"1h\" or \"1d\"".into());
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => {
                return Err(format!(
                "invalid duration \"{s}\": unknown unit '{c}' (use s, m, h, d or w, e.g. \"1h\")"
            ))
            }
        };
        let n: u64 = digits.parse().map_err(|_| {
            format!("invalid duration \"{s}\": a number must come before '{c}', e.g. \"30m\"")
        })?;
        digits.clear();
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("duration \"{s}\" is too long"))?;
    }
    if !digits.is_empty() {
        return Err(format!(
            "invalid duration \"{s}\": the number {digits} has no unit (write e.g. \"{digits}m\" or \"{digits}h\")"
        ));
    }
    if total == 0 {
        return Err(format!("duration \"{s}\" must be longer than zero"));
    }
    Ok(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/etc/x.toml"), text)
    }

    #[test]
    fn minimal_config_gets_defaults() {
        let c = parse(
            "[[source]]\nname = \"pmi\"\nkind = \"mysql\"\nsocket = \"/run/mysqld/mysqld.sock\"\nuser = \"backup\"\ndatabases = [\"pmi\"]\n",
        )
        .expect("valid");
        assert_eq!(c.timezone, chrono_tz::Asia::Jakarta);
        assert_eq!(c.sources[0].interval, Duration::from_secs(3600));
        assert_eq!(c.retention.min_keep, 5);
        assert_eq!(c.compression.level, 1);
        assert_eq!(c.encryption.require_for, vec![Role::Manual]);
    }

    #[test]
    fn unknown_key_is_located() {
        let e = parse("timezone = \"Asia/Jakarta\"\n\n[retention]\nkeep_lats = 3\n").unwrap_err();
        assert_eq!((e.line, e.column), (4, 1), "{e}");
        assert!(e.message.contains("keep_lats"), "{e}");
        assert!(e.to_string().starts_with("/etc/x.toml:4:1: "), "{e}");
    }

    #[test]
    fn consistency_on_a_command_source_is_refused_where_it_stands() {
        let e = parse(
            "[[source]]\nname = \"files\"\nkind = \"command\"\ncommand = [\"tar\"]\nconsistency = \"lock-tables\"\n",
        )
        .unwrap_err();
        assert_eq!((e.line, e.column), (5, 15), "{e}");
        assert!(e.message.contains("consistency"), "{e}");
        let ok = parse(
            "[[source]]\nname = \"pmi\"\nkind = \"mysql\"\nsocket = \"/s\"\nuser = \"u\"\ndatabases = [\"pmi\"]\nconsistency = \"lock-tables\"\n",
        )
        .expect("mysql takes consistency");
        match &ok.sources[0].kind {
            SourceKind::Mysql(m) => assert_eq!(m.consistency, Consistency::LockTables),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn wrong_type_is_located() {
        let e = parse("[compression]\nlevel = \"high\"\n").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        assert_eq!(e.column, 9, "{e}");
    }

    #[test]
    fn min_keep_below_sop_floor_is_refused() {
        let e = parse("[retention]\nmin_keep = 3\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, 12));
        assert!(e.message.contains("five"), "{e}");
    }

    #[test]
    fn bad_interval_and_timezone() {
        let e = parse("[[source]]\nname = \"x\"\nkind = \"command\"\ncommand = [\"true\"]\ninterval = \"5 minutes\"\n").unwrap_err();
        assert_eq!(e.line, 5, "{e}");
        let e = parse("timezone = \"WIB\"\n").unwrap_err();
        assert!(e.message.contains("Asia/Jakarta"), "{e}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("3d"), Ok(Duration::from_secs(259_200)));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("0m").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("99999999999999999w").is_err());
    }

    #[test]
    fn line_col_counts_characters() {
        assert_eq!(line_col("a = \"é\"\nb", 9), (2, 1));
        assert_eq!(line_col("é = 1", 3), (1, 3));
    }

    #[test]
    fn socket_and_host_together_is_an_error() {
        let e = parse("[[source]]\nname = \"pmi\"\nkind = \"mysql\"\nsocket = \"/s\"\nhost = \"db\"\nuser = \"u\"\ndatabases = [\"pmi\"]\n").unwrap_err();
        assert_eq!(e.line, 5, "{e}");
    }

    #[test]
    fn duplicate_source_names() {
        let one = "[[source]]\nname = \"a\"\nkind = \"command\"\ncommand = [\"true\"]\n";
        let e = parse(&format!("{one}{one}")).unwrap_err();
        assert_eq!(e.line, 6, "{e}");
    }

    #[test]
    fn smtp_settings_are_checked_where_they_stand() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cred = dir.path().join("smtp.toml");
        std::fs::write(&cred, "username = \"alert\"\npassword = \"s3cr3t\"\n").expect("write");
        std::fs::set_permissions(&cred, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let base = "[notify]\nsmtp_relay = \"mail.pmi.local:587\"\nmail_from = \"a@pmi.local\"\nmail_to = [\"it@pmi.local\"]\n";
        let with = |extra: &str| parse(&format!("{base}{extra}"));
        let line = format!("smtp_credentials = \"{}\"\n", cred.display());
        let e = with(&line).unwrap_err();
        assert_eq!((e.line, e.column), (5, 20), "{e}");
        assert!(e.message.contains("chmod 600"), "{e}");
        std::fs::set_permissions(&cred, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let c = with(&line).expect("a 0600 credentials file");
        assert_eq!(
            c.notify.smtp_tls,
            SmtpTls::StartTls,
            "STARTTLS is required by default"
        );
        assert_eq!(c.notify.smtp_credentials.as_deref(), Some(cred.as_path()));
        let e = with(&format!("smtp_tls = \"opportunistic\"\n{line}")).unwrap_err();
        assert_eq!(e.line, 6, "{e}");
        assert!(e.message.contains("in clear"), "{e}");
        assert_eq!(
            with("smtp_tls = \"tls\"\n").expect("tls").notify.smtp_tls,
            SmtpTls::Tls
        );
        let e = parse("[notify]\nsmtp_tls = \"tls\"\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, 12), "{e}");
        assert!(e.message.contains("without smtp_relay"), "{e}");
        let e = with("smtp_ca_file = \"/nonexistent/ca.pem\"\n").unwrap_err();
        assert_eq!(e.line, 5, "{e}");
    }

    #[test]
    fn smtp_credentials_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("smtp.toml");
        std::fs::write(&f, "username = \"alert\"\npassword = \"s3cr3t\"\n").expect("write");
        let c = SmtpCredentials::load(&f).expect("valid");
        assert_eq!(c.username, "alert");
        assert!(
            !format!("{c:?}").contains("s3cr3t"),
            "Debug hides the password"
        );
        std::fs::write(&f, "username = \"alert\"\npasword = \"x\"\n").expect("write");
        let e = SmtpCredentials::load(&f).unwrap_err();
        assert!(
            e.starts_with("line 2, column 1: unknown key `pasword`"),
            "{e}"
        );
        std::fs::write(&f, "username = \"alert\"\npassword = \"\"\n").expect("write");
        assert!(SmtpCredentials::load(&f).unwrap_err().contains("empty"));
    }

    #[test]
    fn world_readable_password_file_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "secret").expect("write");
        std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let text = format!(
            "[[source]]\nname = \"pmi\"\nkind = \"mysql\"\nsocket = \"/s\"\nuser = \"u\"\npassword_file = \"{}\"\ndatabases = [\"pmi\"]\n",
            pw.display()
        );
        let e = parse(&text).unwrap_err();
        assert_eq!((e.line, e.column), (6, 17), "{e}");
        assert!(e.message.contains("chmod 600"), "{e}");
        std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert!(parse(&text).is_ok());
    }

    #[test]
    fn panel_gpio_defaults_names_and_chips() {
        let c = parse("").expect("valid");
        assert_eq!(c.panel_hw.gpio_chip, GpioChip::Auto);
        assert_eq!(
            (
                c.panel_hw.led_green,
                c.panel_hw.led_amber,
                c.panel_hw.led_red,
                c.panel_hw.button
            ),
            (17, 27, 22, 23)
        );
        assert_eq!(c.panel_hw.button_line, None);
        assert_eq!(c.panel_hw.button_pressed, ButtonPressed::Low);

        // qemu's `virt` board: the PL061 by its label, offsets, the power button pressed high.
        let c = parse(
            "[panel]\ngpio_chip = \"9030000.pl061\"\nled_green = 0\nled_amber = 1\nled_red = 2\n\
             button = 3\nbutton_pressed = \"high\"\n",
        )
        .expect("the PL061");
        assert_eq!(c.panel_hw.button_pressed, ButtonPressed::High);
        assert_eq!(
            c.panel_hw.gpio_chip,
            GpioChip::Given("9030000.pl061".into())
        );
        assert_eq!(
            parse("[panel]\nbutton_pressed = \"low\"\n")
                .expect("low")
                .panel_hw
                .button_pressed,
            ButtonPressed::Low
        );

        let c =
            parse("[panel]\ngpio_chip = \"pinctrl-rp1\"\nbutton_line = \"GPIO24\"\nbutton = 17\n")
                .expect("a name replaces the number, so 17 is no clash");
        assert_eq!(c.panel_hw.gpio_chip, GpioChip::Given("pinctrl-rp1".into()));
        assert_eq!(c.panel_hw.button_line.as_deref(), Some("GPIO24"));

        // With a chip given, numbers are that chip's offsets: 3 and 40 are fine.
        let c = parse("[panel]\ngpio_chip = \"/dev/gpiochip1\"\nbutton = 3\nled_red = 40\n")
            .expect("offsets of the chip");
        assert_eq!((c.panel_hw.button, c.panel_hw.led_red), (3, 40));
        assert!(parse("[panel]\ngpio_chip = \"auto\"\n").is_ok());
    }

    #[test]
    fn panel_gpio_mistakes_are_located() {
        let e = parse("[panel]\nled_red = 28\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, 11), "{e}");
        assert!(
            e.message.contains("0 to 27") && e.message.contains("led_red_line"),
            "{e}"
        );

        let e = parse("[panel]\nbutton = 3\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, 10), "{e}");
        assert!(e.message.contains("I2C"), "{e}");

        let e = parse("[panel]\nled_green = 5\nbutton = 5\n").unwrap_err();
        assert_eq!((e.line, e.column), (3, 10), "{e}");
        assert!(e.message.contains("led_green"), "{e}");

        let e = parse("[panel]\nled_amber_line = \"X\"\nbutton_line = \"X\"\n").unwrap_err();
        assert_eq!((e.line, e.column), (3, 15), "{e}");
        assert!(e.message.contains("led_amber"), "{e}");

        let e = parse("[panel]\ngpio_chip = \"/dev/gpiochip0\"\nled_red = -1\n").unwrap_err();
        assert_eq!(e.line, 3, "{e}");

        let e = parse("[panel]\nbutton_line = \"\"\n").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        assert!(e.message.contains("gpioinfo"), "{e}");
        let long = "L".repeat(32);
        assert!(parse(&format!("[panel]\nbutton_line = \"{long}\"\n")).is_err());

        let e = parse("[panel]\ngpio_chip = \"\"\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, 13), "{e}");
        assert!(e.message.contains("auto"), "{e}");

        let e = parse("[panel]\nbutton_pressed = \"rising\"\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, 18), "{e}");
        assert!(
            e.message.contains("\"low\"") && e.message.contains("\"high\""),
            "{e}"
        );
    }
}
