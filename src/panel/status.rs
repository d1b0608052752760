/*!
The status model: the one plain value that the OLED screens ([`super::screens::render`]) and
the LEDs ([`super::leds::leds`]) are pure functions of. The daemon builds a [`Status`] from its
state whenever something changes and hands it to the panel; nothing here does I/O.

Also the date and size formats the panel shows (`dd-mm-yyyy HH:MM WIB`, `1,2 TB`).
*/

use chrono::{NaiveDateTime, TimeZone};
use serde::{Serialize, Serializer};

use crate::config::{Language, Role};

/// Everything the front panel shows.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Status {
    /// The language of every text (`language` in the configuration; Bahasa Indonesia by default).
    #[serde(serialize_with = "ser_language")]
    pub language: Language,
    /// The local wall time (in the configured time zone).
    #[serde(serialize_with = "ser_datetime")]
    pub now: NaiveDateTime,
    /// The time zone's abbreviation shown after times: see [`tz_abbrev`].
    pub tz_abbrev: String,
    /// Whether the wall clock is synchronised (a Pi has no real-time clock before NTP).
    pub clock_synced: bool,
    /// What the panel is asked to show.
    pub screen: Screen,
    /// The newest scheduled or manual run, `None` before the first one.
    pub last_backup: Option<LastBackup>,
    /// When the next scheduled run starts; `None` when nothing is scheduled.
    #[serde(serialize_with = "ser_opt_datetime")]
    pub next_backup: Option<NaiveDateTime>,
    /// Every disk the appliance sees, in the order to show them.
    pub disks: Vec<DiskLine>,
    /// Whole days since the last verified manual copy; `None`: never.
    pub days_since_manual: Option<u32>,
    /// The last manual copy is older than the SOP allows (`manual_reminder`, 3 days).
    pub manual_overdue: bool,
    /// The newest restore test, when there has been one.
    pub restore_test: Option<RestoreTest>,
    /// What the network page shows.
    pub network: Network,
    /// Reasons for the amber LED (attention), most important first.
    pub attention: Vec<Attention>,
    /// Reasons for the red LED (failure), most important first.
    pub failures: Vec<Failure>,
    /// A transient one-line answer to a button press, shown on the idle screen.
    pub notice: Option<Notice>,
    /// A backup runs or disks are being ejected, whatever screen is shown over it (a disk
    /// plugged in during a run shows its own screen; the green LED still blinks).
    pub busy: bool,
}

impl Status {
    /// A status with nothing known yet, showing the boot splash.
    pub fn booting(language: Language, now: NaiveDateTime, tz_abbrev: &str) -> Status {
        Status {
            language,
            now,
            tz_abbrev: tz_abbrev.to_string(),
            clock_synced: false,
            screen: Screen::Boot,
            last_backup: None,
            next_backup: None,
            disks: Vec::new(),
            days_since_manual: None,
            manual_overdue: false,
            restore_test: None,
            network: Network::default(),
            attention: Vec::new(),
            failures: Vec::new(),
            notice: None,
            busy: false,
        }
    }
}

/// What the panel is asked to show.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Screen {
    /// The splash while the agent starts.
    Boot,
    /// The idle display (alternating with the network page).
    Idle,
    /// A backup run in progress.
    Running(Progress),
    /// Something failed: what, and what to do.
    Error(ErrorInfo),
    /// A safe eject is in progress: the disks must not be pulled yet.
    Ejecting {
        /// The labels of the disks being ejected.
        labels: Vec<String>,
    },
    /// The disks were ejected and may be pulled out.
    SafeToRemove {
        /// The labels of the ejected disks; empty: there was nothing to eject.
        labels: Vec<String>,
    },
    /// A disk was plugged in that is not enrolled: it is not used.
    UnknownDisk {
        /// Its file-system label (or device name when it has none).
        label: String,
        /// Why it cannot be used even by enrolling it; `None`: enroll it to use it.
        why: Option<crate::kinds::DiskUnusable>,
    },
}

impl Screen {
    /// The kind of screen without its data: a change of kind wakes a dimmed display.
    pub fn kind(&self) -> &'static str {
        match self {
            Screen::Boot => "boot",
            Screen::Idle => "idle",
            Screen::Running(_) => "running",
            Screen::Error(_) => "error",
            Screen::Ejecting { .. } => "ejecting",
            Screen::SafeToRemove { .. } => "safe_to_remove",
            Screen::UnknownDisk { .. } => "unknown_disk",
        }
    }
}

/// A run in progress.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Progress {
    /// The source being backed up (`pmi`, `sms`, …).
    pub source: String,
    /// Whether it was started with the button (a manual copy) rather than by the schedule.
    pub manual: bool,
    /// Bytes read from the source so far.
    pub bytes: u64,
    /// Current rate in bytes per second.
    pub rate_bytes_per_s: u64,
    /// 0.0–1.0, estimated from the previous run's size; `None` when there is none.
    pub fraction: Option<f32>,
    /// The labels of the disks (or folder names) being written.
    pub targets: Vec<String>,
}

/// A failure in the user's language, short: the daemon fills it from its error (or from
/// [`super::texts::failure_info`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ErrorInfo {
    /// What failed, e.g. "Backup pmi gagal: database tidak terhubung".
    pub what: String,
    /// What IT Support should do, e.g. "Periksa server SIMDONDAR dan kabel jaringan".
    pub todo: String,
}

/// The newest run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LastBackup {
    /// When it started (local time).
    #[serde(serialize_with = "ser_datetime")]
    pub at: NaiveDateTime,
    /// Whether it was verified on every target.
    pub ok: bool,
    /// Why it failed, in words (shown shortened on the idle screen).
    pub reason: Option<String>,
}

/// One disk on the idle screen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DiskLine {
    /// The label shown (long labels are shortened with "…" in the middle).
    pub label: String,
    /// Its role; `None`: an unknown disk (never written).
    pub role: Option<Role>,
    /// Free space when mounted; `None`: not known (not mounted, unknown disk).
    pub free_bytes: Option<u64>,
    /// The file system's size.
    pub size_bytes: u64,
    /// Its file system cannot be mounted or read (damaged): shown as such, never as unknown.
    pub unreadable: bool,
}

/// Below this much free space a disk shows as full: 1 % of its size, at least 100 MB.
pub fn full_threshold(size_bytes: u64) -> u64 {
    (size_bytes / 100).max(100_000_000)
}

impl DiskLine {
    /// Whether the disk is (as good as) full: see [`full_threshold`].
    pub fn is_full(&self) -> bool {
        self.free_bytes
            .is_some_and(|free| free < full_threshold(self.size_bytes))
    }
}

/// The newest restore test.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RestoreTest {
    /// When it ran (local time).
    #[serde(serialize_with = "ser_datetime")]
    pub at: NaiveDateTime,
    /// Whether the restored database matched.
    pub passed: bool,
}

/// What the network page shows.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Network {
    /// The appliance's host name.
    pub hostname: String,
    /// Its IP addresses (without loopback), as text.
    pub addresses: Vec<String>,
    /// Whether the database server answered the last check; `None`: not checked yet.
    pub db_reachable: Option<bool>,
}

/// A part of the front panel that could not be started.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HardwarePart {
    /// The SSD1306 OLED.
    Display,
    /// The three LEDs.
    Leds,
    /// The button.
    Button,
}

impl HardwarePart {
    /// The word used in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            HardwarePart::Display => "OLED display",
            HardwarePart::Leds => "LEDs",
            HardwarePart::Button => "button",
        }
    }
}

/// A reason for the amber LED.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Attention {
    /// The last manual copy is older than the SOP allows.
    ManualOverdue,
    /// A backup disk is nearly full.
    DiskNearlyFull { label: String },
    /// A disk's file system cannot be mounted or read (damaged).
    DiskUnreadable { label: String },
    /// The wall clock is not synchronised.
    ClockNotSynced,
    /// Manual (removable) copies must be encrypted but no key is configured.
    NoEncryptionKey,
    /// A part of the front panel is missing or not answering.
    HardwareMissing { part: HardwarePart },
    /// The scrub found a copy that went bad on this disk.
    CopyWentBad { label: String },
    /// Audit entries could not be written yet.
    AuditNotWritten,
    /// An encryption key's custody check is due.
    KeyCheckDue,
    /// The last pass over an off-site store failed, of this kind.
    OffsiteFailed {
        failure: crate::kinds::OffsiteFailure,
    },
    /// No off-site copy was verified for two days.
    OffsiteOverdue,
}

/// A reason for the red LED.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Failure {
    /// The last backup run failed.
    LastBackupFailed {
        reason: String,
        /// Its kind: the panel's words come from it, the engine's sentence is shown otherwise.
        failure: Option<crate::kinds::RunFailure>,
    },
    /// No backup disk (role auto) is attached.
    NoBackupDisk,
    /// The database server does not answer.
    DatabaseUnreachable,
    /// No automatic backup succeeded for two intervals.
    NoAutoBackupFor2Intervals,
    /// A disk is still mounted or held (its eject or a write failed): it must not be pulled.
    DiskNotSafe {
        /// Its label.
        label: String,
    },
    /// A disk stopped answering and was cut off from the backups: unplug it and check it.
    DiskNotAnswering {
        /// Its label.
        label: String,
    },
    /// The scrub found fewer than five good copies of a source on a disk.
    FewGoodCopies {
        label: String,
        source: String,
        good: usize,
    },
    /// The configuration file cannot be used; the agent waits for it to be fixed.
    ConfigInvalid {
        /// Where: `config.toml:12:3`.
        at: String,
    },
}

/// A transient answer to a button press.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Notice {
    /// The button was pressed while a backup runs: it is not started twice.
    BackupAlreadyRunning,
    /// The button was pressed: a manual backup starts.
    BackupStarting,
    /// The button was pressed during a scheduled run: a manual backup follows it.
    ManualQueued,
    /// The button was pressed again while a manual backup waits: still one.
    AlreadyQueued,
    /// The button was pressed but no disk for a manual copy is plugged in.
    NoManualDisk,
}

/// Which page the caller wants: the idle and error screens alternate between two pages
/// (the runner switches every few seconds); every other screen has one page and ignores it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Page {
    /// Idle: backups, disks, manual copies. Error: what failed (and what to do, if it fits).
    Main,
    /// Idle: the network page (host name, addresses, database). Error: what to do, when the
    /// first page had no room for it.
    Second,
}

/// The abbreviation shown after times: WIB for Asia/Jakarta and Asia/Pontianak, WITA for
/// Asia/Makassar, WIT for Asia/Jayapura, otherwise the zone's own abbreviation now (e.g. "UTC").
pub fn tz_abbrev(tz: chrono_tz::Tz) -> String {
    match tz {
        chrono_tz::Tz::Asia__Jakarta | chrono_tz::Tz::Asia__Pontianak => "WIB".to_string(),
        chrono_tz::Tz::Asia__Makassar => "WITA".to_string(),
        chrono_tz::Tz::Asia__Jayapura => "WIT".to_string(),
        other => other
            .from_utc_datetime(&chrono::Utc::now().naive_utc())
            .format("%Z")
            .to_string(),
    }
}

/// `dd-mm-yyyy HH:MM WIB`.
pub fn format_datetime(at: NaiveDateTime, tz_abbrev: &str) -> String {
    let s = at.format("%d-%m-%Y %H:%M").to_string();
    if tz_abbrev.is_empty() {
        s
    } else {
        format!("{s} {tz_abbrev}")
    }
}

/// `HH:MM` when `at` is on `today`'s date, `dd-mm HH:MM` otherwise (for lines under a header
/// that shows the full date and zone).
pub fn format_short(at: NaiveDateTime, now: NaiveDateTime) -> String {
    if at.date() == now.date() {
        at.format("%H:%M").to_string()
    } else {
        at.format("%d-%m %H:%M").to_string()
    }
}

/// A size in decimal units as disks are sold: `512 MB`, `1,2 TB` (Indonesian decimal comma) or
/// `1.2 TB` (English); one decimal below 10.
pub fn format_bytes(bytes: u64, language: Language) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 999.5 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    let text = if unit == 0 || value >= 9.95 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    };
    let text = match language {
        Language::Id => text.replace('.', ","),
        Language::En => text,
    };
    format!("{text} {}", UNITS[unit])
}

fn ser_language<S: Serializer>(language: &Language, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(match language {
        Language::Id => "id",
        Language::En => "en",
    })
}

fn ser_datetime<S: Serializer>(at: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&at.format("%Y-%m-%dT%H:%M:%S").to_string())
}

fn ser_opt_datetime<S: Serializer>(at: &Option<NaiveDateTime>, s: S) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => ser_datetime(at, s),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn at(d: u32, h: u32, m: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 11, d)
            .and_then(|d| d.and_hms_opt(h, m, 0))
            .expect("valid date")
    }

    #[test]
    fn time_zone_abbreviations() {
        assert_eq!(tz_abbrev(chrono_tz::Asia::Jakarta), "WIB");
        assert_eq!(tz_abbrev(chrono_tz::Asia::Pontianak), "WIB");
        assert_eq!(tz_abbrev(chrono_tz::Asia::Makassar), "WITA");
        assert_eq!(tz_abbrev(chrono_tz::Asia::Jayapura), "WIT");
        assert_eq!(tz_abbrev(chrono_tz::UTC), "UTC");
        assert_eq!(tz_abbrev(chrono_tz::Asia::Tokyo), "JST");
    }

    #[test]
    fn dates() {
        assert_eq!(
            format_datetime(at(6, 9, 5), "WITA"),
            "06-11-2026 09:05 WITA"
        );
        assert_eq!(format_short(at(6, 9, 5), at(6, 23, 0)), "09:05");
        assert_eq!(format_short(at(7, 0, 0), at(6, 23, 0)), "07-11 00:00");
    }

    #[test]
    fn sizes() {
        assert_eq!(format_bytes(0, Language::Id), "0 B");
        assert_eq!(format_bytes(999, Language::Id), "999 B");
        assert_eq!(format_bytes(1_234_000_000_000, Language::Id), "1,2 TB");
        assert_eq!(format_bytes(1_234_000_000_000, Language::En), "1.2 TB");
        assert_eq!(format_bytes(15_600_000_000, Language::En), "16 GB");
        assert_eq!(format_bytes(999_999_999, Language::En), "1.0 GB");
        assert_eq!(format_bytes(512_000_000, Language::En), "512 MB");
    }

    #[test]
    fn full_disk() {
        let mut d = DiskLine {
            label: "X".into(),
            role: Some(Role::Auto),
            free_bytes: Some(5_000_000_000),
            size_bytes: 1_000_000_000_000,
            unreadable: false,
        };
        assert!(d.is_full(), "5 GB of 1 TB is under 1 %");
        d.free_bytes = Some(20_000_000_000);
        assert!(!d.is_full());
        d.free_bytes = None;
        assert!(!d.is_full(), "unknown free space is not full");
        d.size_bytes = 8_000_000_000;
        d.free_bytes = Some(90_000_000);
        assert!(d.is_full(), "under 100 MB on a small flashdisk");
    }

    #[test]
    fn serialises_to_json() {
        let s = Status::booting(Language::Id, at(26, 10, 0), "WIB");
        let json = serde_json::to_value(&s).expect("json");
        assert_eq!(json["language"], "id");
        assert_eq!(json["now"], "2026-11-26T10:00:00");
        assert_eq!(json["screen"]["kind"], "boot");
    }
}
