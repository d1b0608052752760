/*!
Every text the front panel shows, in Bahasa Indonesia (the default) and English, in one place.

Written for IT Support at a UTD PMI reading a 0.96" OLED: short, plain words, the terms they use
("backup", "disk", "database"). Lines of the small font hold 25 characters, of the large one 21;
the screens shorten anything longer with "…", and the tests check that none of the fixed texts
needs shortening.
*/

use crate::config::{Language, Role};
use crate::kinds::{CopyFailure, DiskUnusable, EjectFailure, RunFailure};

use super::status::{Attention, DiskLine, ErrorInfo, Failure, HardwarePart, Notice};

/// The fixed texts of one language.
#[derive(Debug)]
pub struct Texts {
    /// The language these texts are in.
    pub language: Language,
    /// Boot splash, under the product name.
    pub boot_subtitle: &'static str,
    /// Boot splash, what is happening.
    pub boot_starting: &'static str,
    /// Idle: label before the last backup's time.
    pub last_backup: &'static str,
    /// Idle: no backup yet.
    pub never: &'static str,
    /// Result words.
    pub ok: &'static str,
    pub failed: &'static str,
    /// Idle: label before the next backup's time.
    pub next_backup: &'static str,
    /// Idle: nothing scheduled.
    pub not_scheduled: &'static str,
    /// Idle: no disk at all.
    pub no_disks: &'static str,
    /// Disk roles as shown in the disk lines.
    pub role_auto: &'static str,
    pub role_manual: &'static str,
    pub role_unknown: &'static str,
    /// Disk line: a disk whose file system cannot be read (damaged).
    pub role_unreadable: &'static str,
    /// Disk line: no free space left.
    pub disk_full: &'static str,
    /// Idle: label before the age of the last manual copy, long and (when the age is long) short.
    pub manual_long: &'static str,
    pub manual: &'static str,
    pub today: &'static str,
    pub yesterday: &'static str,
    /// Idle: label before the restore test's result.
    pub restore_test: &'static str,
    /// Running: title of a scheduled run / a manual run.
    pub running_auto: &'static str,
    pub running_manual: &'static str,
    /// Running: label before the targets.
    pub to: &'static str,
    /// Running: the warning at the bottom.
    pub do_not_unplug: &'static str,
    /// Error: the title bar, and the title of the second page (what to do).
    pub error_title: &'static str,
    pub error_todo_title: &'static str,
    /// Ejecting: title and body.
    pub ejecting_title: &'static str,
    pub ejecting_wait: &'static str,
    /// Safe to remove: the two title words (shown large, one a line) and the body.
    pub safe_title: [&'static str; 2],
    pub safe_body: &'static str,
    /// Safe to remove with nothing ejected.
    pub nothing_to_eject: &'static str,
    /// Unknown disk: title and explanation.
    pub unknown_title: &'static str,
    pub unknown_body: &'static str,
    /// A plugged-in disk that cannot be used even by enrolling it: title, and the explanation
    /// by why (`unusable_body`).
    pub unusable_title: &'static str,
    pub unusable_not_supported: &'static str,
    pub unusable_cannot_open: &'static str,
    pub unusable_in_use: &'static str,
    pub unusable_bad_marker: &'static str,
    /// Network page: title and labels.
    pub network_title: &'static str,
    pub host: &'static str,
    pub no_address: &'static str,
    pub database: &'static str,
    pub db_ok: &'static str,
    pub db_unreachable: &'static str,
    pub db_unknown: &'static str,
    /// Network page: the clock's state.
    pub clock: &'static str,
    pub clock_synced: &'static str,
    pub clock_not_synced: &'static str,
    /// Idle: "more" after a count ("+3 lagi").
    pub more: &'static str,
    /// Idle header when the clock is not synchronised (after the time).
    pub clock_unsynced_mark: &'static str,
}

/// Bahasa Indonesia.
pub const ID: Texts = Texts {
    language: Language::Id,
    boot_subtitle: "Backup otomatis",
    boot_starting: "Memulai…",
    last_backup: "Terakhir",
    never: "belum pernah",
    ok: "OK",
    failed: "GAGAL",
    next_backup: "Berikutnya",
    not_scheduled: "tidak ada",
    no_disks: "(tidak ada disk)",
    role_auto: "auto",
    role_manual: "manual",
    role_unknown: "asing",
    role_unreadable: "rusak",
    disk_full: "PENUH",
    manual_long: "Backup manual",
    manual: "Manual",
    today: "hari ini",
    yesterday: "kemarin",
    restore_test: "Uji restore",
    running_auto: "BACKUP",
    running_manual: "BACKUP MANUAL",
    to: "Ke",
    do_not_unplug: "Jangan cabut disk!",
    error_title: "ADA MASALAH",
    error_todo_title: "TINDAKAN",
    ejecting_title: "MELEPAS DISK",
    ejecting_wait: "Tunggu, jangan dicabut…",
    safe_title: ["AMAN", "DILEPAS"],
    safe_body: "Disk boleh dicabut.",
    nothing_to_eject: "Tidak ada disk yang perlu dilepas.",
    unknown_title: "DISK TIDAK DIKENAL",
    unknown_body:
        "Disk ini tidak dipakai dan tidak ditulis. Untuk backup, daftarkan dulu (disk enroll).",
    unusable_title: "DISK TAK BISA DIPAKAI",
    unusable_not_supported:
        "Tidak ditulis: formatnya tidak didukung. Format exFAT atau ext4 agar bisa dipakai.",
    unusable_cannot_open:
        "Tidak ditulis: disk tidak bisa dibuka. Alasannya: simdondar-backup disks",
    unusable_in_use: "Tidak ditulis: disk ini sedang dipakai sistem (di-mount di tempat lain).",
    unusable_bad_marker:
        "Tidak ditulis: penanda pendaftarannya rusak. Daftarkan ulang (disk enroll).",
    network_title: "JARINGAN",
    host: "Nama",
    no_address: "belum ada alamat IP",
    database: "Database",
    db_ok: "terhubung",
    db_unreachable: "TIDAK terhubung",
    db_unknown: "belum dicek",
    clock: "Jam",
    clock_synced: "sinkron",
    clock_not_synced: "BELUM sinkron",
    more: "lagi",
    clock_unsynced_mark: "?",
};

/// English.
pub const EN: Texts = Texts {
    language: Language::En,
    boot_subtitle: "Automatic backup",
    boot_starting: "Starting…",
    last_backup: "Last",
    never: "never",
    ok: "OK",
    failed: "FAILED",
    next_backup: "Next",
    not_scheduled: "none",
    no_disks: "(no disks)",
    role_auto: "auto",
    role_manual: "manual",
    role_unknown: "unknown",
    role_unreadable: "damaged",
    disk_full: "FULL",
    manual_long: "Manual backup",
    manual: "Manual",
    today: "today",
    yesterday: "yesterday",
    restore_test: "Restore test",
    running_auto: "BACKUP",
    running_manual: "MANUAL BACKUP",
    to: "To",
    do_not_unplug: "Do not unplug disks!",
    error_title: "PROBLEM",
    error_todo_title: "WHAT TO DO",
    ejecting_title: "EJECTING DISKS",
    ejecting_wait: "Wait, do not unplug yet…",
    safe_title: ["SAFE TO", "REMOVE"],
    safe_body: "You may unplug the disk.",
    nothing_to_eject: "There was no disk to eject.",
    unknown_title: "UNKNOWN DISK",
    unknown_body:
        "This disk is not used and not written. To back up to it, enroll it first (disk enroll).",
    unusable_title: "DISK NOT USABLE",
    unusable_not_supported:
        "Not written: its format is not supported. Format it exFAT or ext4 to use it.",
    unusable_cannot_open:
        "Not written: the box could not open it. `simdondar-backup disks` says why.",
    unusable_in_use: "Not written: the system is using it (mounted elsewhere).",
    unusable_bad_marker:
        "Not written: its enrollment marker is damaged. Enroll it again (disk enroll).",
    network_title: "NETWORK",
    host: "Host",
    no_address: "no IP address yet",
    database: "Database",
    db_ok: "reachable",
    db_unreachable: "UNREACHABLE",
    db_unknown: "not checked",
    clock: "Clock",
    clock_synced: "synchronised",
    clock_not_synced: "NOT synchronised",
    more: "more",
    clock_unsynced_mark: "?",
};

/// The texts of `language`.
pub fn texts(language: Language) -> &'static Texts {
    match language {
        Language::Id => &ID,
        Language::En => &EN,
    }
}

impl Texts {
    /// The role word of a disk line.
    pub fn role(&self, role: Option<Role>) -> &'static str {
        match role {
            Some(Role::Auto) => self.role_auto,
            Some(Role::Manual) => self.role_manual,
            None => self.role_unknown,
        }
    }

    /// The role word of a disk line: "damaged" for a disk that cannot be read, whatever else.
    pub fn disk_role(&self, disk: &DiskLine) -> &'static str {
        if disk.unreadable {
            self.role_unreadable
        } else {
            self.role(disk.role)
        }
    }

    /// Why a plugged-in disk cannot be used, and what to do.
    pub fn unusable_body(&self, why: DiskUnusable) -> &'static str {
        match why {
            DiskUnusable::NotSupported => self.unusable_not_supported,
            DiskUnusable::CannotOpen => self.unusable_cannot_open,
            DiskUnusable::InUse => self.unusable_in_use,
            DiskUnusable::BadMarker => self.unusable_bad_marker,
        }
    }

    /// How long ago the last manual copy was: "hari ini", "kemarin", "3 hari lalu".
    pub fn days_ago(&self, days: u32) -> String {
        match (days, self.language == Language::Id) {
            (0, _) => self.today.to_string(),
            (1, _) => self.yesterday.to_string(),
            (n, true) => format!("{n} hari lalu"),
            (n, false) => format!("{n} days ago"),
        }
    }

    /// "+3 disk lagi" under a list of disks that does not fit.
    pub fn more_disks(&self, n: usize) -> String {
        match (self.language, n) {
            (Language::Id, n) => format!("+{n} disk lagi"),
            (Language::En, 1) => "+1 more disk".to_string(),
            (Language::En, n) => format!("+{n} more disks"),
        }
    }

    /// One attention reason in at most `cols` characters (a disk label is shortened in the
    /// middle to fit; the fixed texts are at most 19 characters).
    pub fn attention(&self, a: &Attention, cols: usize) -> String {
        let id = self.language == Language::Id;
        let label = |prefix: &str, label: &str| {
            let room = cols.saturating_sub(prefix.chars().count());
            format!("{prefix}{}", super::screens::fit_middle(label, room))
        };
        match (a, id) {
            (Attention::ManualOverdue, true) => "Backup manual telat".into(),
            (Attention::ManualOverdue, false) => "Manual copy overdue".into(),
            (Attention::DiskNearlyFull { label: l }, true) => label("Hampir penuh: ", l),
            (Attention::DiskNearlyFull { label: l }, false) => label("Nearly full: ", l),
            (Attention::DiskUnreadable { label: l }, true) => label("Tak terbaca: ", l),
            (Attention::DiskUnreadable { label: l }, false) => label("Unreadable: ", l),
            (Attention::ClockNotSynced, true) => "Jam belum sinkron".into(),
            (Attention::ClockNotSynced, false) => "Clock not synced".into(),
            (Attention::NoEncryptionKey, true) => "Enkripsi belum siap".into(),
            (Attention::NoEncryptionKey, false) => "No encryption key".into(),
            (Attention::CopyWentBad { label: l }, true) => label("Rusak: ", l),
            (Attention::CopyWentBad { label: l }, false) => label("Bad copy: ", l),
            (Attention::AuditNotWritten, true) => "Log audit tertunda".into(),
            (Attention::AuditNotWritten, false) => "Audit log not saved".into(),
            (Attention::KeyCheckDue, true) => "Cek kunci enkripsi".into(),
            (Attention::KeyCheckDue, false) => "Key check due".into(),
            (Attention::OffsiteFailed { failure }, id) => offsite_text(*failure, id).into(),
            (Attention::OffsiteOverdue, true) => "Off-site telat".into(),
            (Attention::OffsiteOverdue, false) => "Off-site overdue".into(),
            (Attention::HardwareMissing { part }, true) => {
                format!("{} tidak ada", self.part(*part))
            }
            (Attention::HardwareMissing { part }, false) => {
                format!("{} not found", self.part(*part))
            }
        }
    }

    /// A part of the panel by name.
    pub fn part(&self, part: HardwarePart) -> &'static str {
        match (part, self.language == Language::Id) {
            (HardwarePart::Display, _) => "OLED",
            (HardwarePart::Leds, _) => "LED",
            (HardwarePart::Button, true) => "Tombol",
            (HardwarePart::Button, false) => "Button",
        }
    }

    /// One failure reason for the idle screen's alert line (the fixed ones at most 19
    /// characters, to leave room for "! " and " 1/3").
    pub fn failure(&self, f: &Failure) -> String {
        let id = self.language == Language::Id;
        match (f, id) {
            // The first idle line already says GAGAL: the reason alone (the engine's words).
            // A common cause in the panel's words; any other reason as the engine gave it.
            (Failure::LastBackupFailed { reason, failure }, _) if !reason.trim().is_empty() => {
                match cause(*failure) {
                    Some(c) if id => c.1.to_string(),
                    Some(c) => c.3.to_string(),
                    None => reason.trim().to_string(),
                }
            }
            (Failure::LastBackupFailed { .. }, true) => "Backup terakhir gagal".into(),
            (Failure::LastBackupFailed { .. }, false) => "Last backup failed".into(),
            (Failure::NoBackupDisk, true) => "Tak ada disk backup".into(),
            (Failure::NoBackupDisk, false) => "No backup disk".into(),
            (Failure::DatabaseUnreachable, true) => "Database terputus".into(),
            (Failure::DatabaseUnreachable, false) => "Database offline".into(),
            (Failure::NoAutoBackupFor2Intervals, true) => "Backup rutin macet".into(),
            (Failure::NoAutoBackupFor2Intervals, false) => "Auto backup stalled".into(),
            (Failure::DiskNotSafe { .. }, true) => "Disk belum aman".into(),
            (Failure::DiskNotSafe { .. }, false) => "Disk not safe yet".into(),
            (Failure::FewGoodCopies { .. }, true) => "Backup baik < 5".into(),
            (Failure::FewGoodCopies { .. }, false) => "Under 5 good copies".into(),
            (Failure::DiskNotAnswering { .. }, true) => "Disk tak merespons".into(),
            (Failure::DiskNotAnswering { .. }, false) => "Disk not answering".into(),
            (Failure::ConfigInvalid { .. }, true) => "Konfigurasi salah".into(),
            (Failure::ConfigInvalid { .. }, false) => "Config invalid".into(),
        }
    }

    /// A notice (the answer to a button press).
    pub fn notice(&self, n: Notice) -> &'static str {
        match (n, self.language == Language::Id) {
            (Notice::BackupAlreadyRunning, true) => "Backup sedang berjalan",
            (Notice::BackupAlreadyRunning, false) => "Backup already running",
            (Notice::BackupStarting, true) => "Backup manual dimulai",
            (Notice::BackupStarting, false) => "Manual backup starting",
            (Notice::ManualQueued, true) => "Backup manual menyusul",
            (Notice::ManualQueued, false) => "Manual backup queued",
            (Notice::AlreadyQueued, true) => "Sudah dalam antrean",
            (Notice::AlreadyQueued, false) => "Already queued",
            (Notice::NoManualDisk, true) => "Colokkan disk dulu",
            (Notice::NoManualDisk, false) => "Plug in a disk first",
        }
    }
}

/// The error screen's texts for a failure that has no more specific message.
pub fn failure_info(f: &Failure, language: Language) -> ErrorInfo {
    let (what, todo) = match (f, language) {
        (Failure::LastBackupFailed { reason, failure }, _) => {
            // The idle screen's failure: whichever way it was started, the schedule tries again.
            let i = backup_failed_info(reason, *failure, StartedBy::Schedule, language);
            (i.what, i.todo)
        }
        (Failure::NoBackupDisk, Language::Id) => (
            "Tidak ada disk backup terpasang.".to_string(),
            "Colokkan HDD backup (auto) ke port USB.".to_string(),
        ),
        (Failure::NoBackupDisk, Language::En) => (
            "No backup disk is attached.".to_string(),
            "Plug the backup HDD (auto) into a USB port.".to_string(),
        ),
        (Failure::DatabaseUnreachable, Language::Id) => (
            "Database SIMDONDAR tidak terhubung.".to_string(),
            "Periksa server SIMDONDAR, MariaDB dan kabel jaringan.".to_string(),
        ),
        (Failure::DatabaseUnreachable, Language::En) => (
            "SIMDONDAR database unreachable.".to_string(),
            "Check the SIMDONDAR server, MariaDB and the network cable.".to_string(),
        ),
        (Failure::NoAutoBackupFor2Intervals, Language::Id) => (
            "Backup otomatis tidak berhasil 2 kali.".to_string(),
            "Periksa disk dan database, lalu hubungi IT.".to_string(),
        ),
        (Failure::NoAutoBackupFor2Intervals, Language::En) => (
            "No automatic backup for 2 intervals.".to_string(),
            "Check the disks and the database, then call IT.".to_string(),
        ),
        (Failure::DiskNotSafe { label }, Language::Id) => (
            format!("Disk {label} belum aman dilepas."),
            "Tutup program yang membukanya, lalu tahan tombol 3 detik.".to_string(),
        ),
        (Failure::DiskNotSafe { label }, Language::En) => (
            format!("Disk {label} is not safe to remove."),
            "Close what has it open, then hold the button 3 s.".to_string(),
        ),
        (
            Failure::FewGoodCopies {
                label,
                source,
                good,
            },
            Language::Id,
        ) => (
            format!("Disk {label}: hanya {good} backup baik {source}."),
            "SOP minta 5. Biarkan backup jalan; ganti disk bila rusak.".to_string(),
        ),
        (
            Failure::FewGoodCopies {
                label,
                source,
                good,
            },
            Language::En,
        ) => (
            format!("Disk {label}: only {good} good backups of {source}."),
            "The SOP asks for 5. Let backups run; replace a bad disk.".to_string(),
        ),
        (Failure::DiskNotAnswering { label }, Language::Id) => (
            format!("Disk {label} tidak merespons."),
            "Disk diputus dari backup. Cabut, lalu cek di PC.".to_string(),
        ),
        (Failure::DiskNotAnswering { label }, Language::En) => (
            format!("Disk {label} does not answer."),
            "It was cut off from the backup. Unplug it, check on a PC.".to_string(),
        ),
        (Failure::ConfigInvalid { at }, Language::Id) => (
            format!("Konfigurasi salah: {at}"),
            "Perbaiki file itu (config check). Backup menunggu.".to_string(),
        ),
        (Failure::ConfigInvalid { at }, Language::En) => (
            format!("Config invalid: {at}"),
            "Fix that file (config check). Backups wait.".to_string(),
        ),
    };
    ErrorInfo { what, todo }
}

/// The panel's words for an off-site failure (at most 19 characters): what to look at.
fn offsite_text(f: crate::kinds::OffsiteFailure, id: bool) -> &'static str {
    use crate::kinds::OffsiteFailure as K;
    match (f, id) {
        (K::Unreachable | K::Dropped, true) => "Off-site: putus",
        (K::Unreachable | K::Dropped, false) => "Off-site: no link",
        (K::Tls, true) => "Sertifikat off-site",
        (K::Tls, false) => "Off-site: TLS cert",
        (K::Credentials, true) => "Off-site: kunci S3",
        (K::Credentials, false) => "Off-site: S3 key",
        (K::ClockSkew, true) => "Off-site: jam salah",
        (K::ClockSkew, false) => "Off-site: clock off",
        (K::NoBucket, true) => "Off-site: no bucket",
        (K::NoBucket, false) => "Off-site: no bucket",
        (K::Full, true) => "Off-site: penuh",
        (K::Full, false) => "Off-site: full",
        (K::Mismatch, true) => "Off-site: beda isi",
        (K::Mismatch, false) => "Off-site: mismatch",
        (K::Local, true) => "Off-site: salinan",
        (K::Local, false) => "Off-site: local",
        (K::Policy, true) => "Off-site: ditolak",
        (K::Policy, false) => "Off-site: refused",
        (K::Other, true) => "Off-site: gagal",
        (K::Other, false) => "Off-site failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fixed texts shown on one line must fit it without "…".
    #[test]
    fn one_line_texts_fit() {
        for t in [&ID, &EN] {
            let small = [
                t.no_disks,
                t.not_scheduled,
                t.ejecting_wait,
                t.do_not_unplug,
                t.no_address,
            ];
            for s in small {
                assert!(s.chars().count() <= 25, "{s:?} is longer than 25");
            }
            for s in [
                t.error_title,
                t.error_todo_title,
                t.unknown_title,
                t.unusable_title,
                t.network_title,
            ] {
                assert!(s.chars().count() <= 21, "{s:?} is longer than 21");
            }
            for s in t.safe_title {
                assert!(
                    s.chars().count() <= 9,
                    "{s:?} is too long for the large font"
                );
            }
            for n in [
                Notice::BackupAlreadyRunning,
                Notice::BackupStarting,
                Notice::ManualQueued,
                Notice::AlreadyQueued,
                Notice::NoManualDisk,
            ] {
                assert!(t.notice(n).chars().count() <= 23, "{:?}", t.notice(n));
            }
            for f in [
                Failure::NoBackupDisk,
                Failure::DatabaseUnreachable,
                Failure::NoAutoBackupFor2Intervals,
            ] {
                assert!(t.failure(&f).chars().count() <= 19, "{:?}", t.failure(&f));
            }
            for a in [
                Attention::ManualOverdue,
                Attention::ClockNotSynced,
                Attention::NoEncryptionKey,
                Attention::AuditNotWritten,
                Attention::KeyCheckDue,
                Attention::OffsiteOverdue,
                Attention::HardwareMissing {
                    part: HardwarePart::Button,
                },
            ]
            .into_iter()
            .chain(
                crate::kinds::OffsiteFailure::ALL
                    .map(|failure| Attention::OffsiteFailed { failure }),
            )
            .chain([Attention::HardwareMissing {
                part: HardwarePart::Display,
            }]) {
                assert!(
                    t.attention(&a, 25).chars().count() <= 19,
                    "{:?}",
                    t.attention(&a, 25)
                );
            }
        }
    }

    /// Each reason a disk is unusable fits the unknown-disk screen's four small lines whole: a
    /// cut-off sentence would lose what to do.
    #[test]
    fn every_unusable_disk_body_fits_its_screen_whole() {
        use crate::kinds::DiskUnusable::*;
        for t in [&ID, &EN] {
            for why in [NotSupported, CannotOpen, InUse, BadMarker] {
                let body = t.unusable_body(why);
                let lines = crate::panel::screens::wrap(body, 25, usize::MAX);
                assert!(lines.len() <= 4, "{why:?}: {lines:?}");
            }
            assert!(
                crate::panel::screens::wrap(t.unknown_body, 25, usize::MAX).len() <= 4,
                "{:?}",
                t.unknown_body
            );
        }
    }

    #[test]
    fn days_in_both_languages() {
        assert_eq!(ID.days_ago(0), "hari ini");
        assert_eq!(ID.days_ago(1), "kemarin");
        assert_eq!(ID.days_ago(4), "4 hari lalu");
        assert_eq!(EN.days_ago(4), "4 days ago");
        assert_eq!(texts(Language::En).ok, "OK");
        assert_eq!(ID.more_disks(3), "+3 disk lagi");
        assert_eq!(EN.more_disks(1), "+1 more disk");
        let full = Attention::DiskNearlyFull {
            label: "SIMBAK-FLASHDISK-UTD-03".into(),
        };
        assert_eq!(ID.attention(&full, 23), "Hampir penuh: SIMB…D-03");
    }
}

/// The common causes of a failed run, chosen by the run's failure kind (never by its text),
/// with the words for the panel: (kind, Indonesian what, Indonesian todo, English what, English
/// todo); the two whats are short (at most 19 characters) for the idle screen's alert line.
/// A kind without an entry (or an unknown kind) shows the engine's reason as it is.
type Cause = (
    RunFailure,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);
const CAUSES: &[Cause] = &[
    (
        RunFailure::DatabaseUnreachable,
        "database terputus",
        "Periksa server SIMDONDAR, MariaDB dan kabel jaringan.",
        "database offline",
        "Check the SIMDONDAR server, MariaDB and the network cable.",
    ),
    (
        RunFailure::LoginRefused,
        "login DB ditolak",
        "Periksa mysql.password dan hak akses user backup.",
        "DB login refused",
        "Check mysql.password and the backup user's grants.",
    ),
    (
        RunFailure::NoSuchDatabase,
        "database tidak ada",
        "Periksa daftar databases di konfigurasi.",
        "no such database",
        "Check the databases list in the configuration.",
    ),
    (
        RunFailure::MissingGrant,
        "hak akses kurang",
        "Berikan GRANT sesuai mariadb-grants.md.",
        "missing grant",
        "Grant what mariadb-grants.md lists.",
    ),
    (
        RunFailure::SourceStalled,
        "dump macet",
        "Server DB sibuk/terkunci. Dicoba lagi jadwal berikut.",
        "dump stalled",
        "DB server busy or locked. Retried at the next slot.",
    ),
    (
        RunFailure::Copy(CopyFailure::Policy),
        "kunci belum diatur",
        "Buat kunci (keygen) dan isi [encryption] recipients.",
        "no encryption key",
        "Create a key (keygen) and set [encryption] recipients.",
    ),
    (
        RunFailure::Copy(CopyFailure::Full),
        "disk penuh",
        "Ganti disk yang lebih besar atau arsipkan backup lama.",
        "disk full",
        "Use a larger disk or archive old backups.",
    ),
    (
        RunFailure::Copy(CopyFailure::ReadOnly),
        "disk hanya-baca",
        "Periksa disk di PC (chkdsk/fsck), lalu colokkan lagi.",
        "disk read-only",
        "Check the disk on a PC (chkdsk/fsck), plug it in again.",
    ),
    (
        RunFailure::Copy(CopyFailure::Gone),
        "disk terlepas",
        "Colokkan kembali disk, lalu {retry}.",
        "disk removed",
        "Plug the disk in again, then {retry}.",
    ),
    (
        RunFailure::Copy(CopyFailure::Io),
        "disk rusak/lepas",
        "Coba disk lain; bila terulang, ganti disk itu.",
        "disk failing",
        "Try another disk; if it repeats, replace that disk.",
    ),
    (
        RunFailure::Copy(CopyFailure::NotAnswering),
        "disk tak merespons",
        "Disk diputus dari backup. Cabut, lalu cek di PC.",
        "disk not answering",
        "It was cut off from the backup. Unplug it, check on a PC.",
    ),
    (
        RunFailure::Copy(CopyFailure::Mismatch),
        "isi disk salah",
        "Data terbaca beda dari yang ditulis: ganti disk itu.",
        "disk data wrong",
        "Read-back differed from what was written: replace it.",
    ),
];

/// Why a safe eject fails, in the same form; the whats here are whole sentences (the error screen
/// only, never the idle line).
const EJECT_CAUSES: &[(EjectFailure, &str, &str, &str, &str)] = &[
    (
        EjectFailure::InUse,
        "Disk masih dipakai program lain.",
        "Jangan cabut. Tutup programnya, lalu tahan tombol 3 detik.",
        "The disk is still in use by a program.",
        "Do not pull it. Close the program, hold the button 3 s.",
    ),
    (
        EjectFailure::NotAnswering,
        "Disk tidak merespons; tulisan terakhir mungkin hilang.",
        "Cabut disk, lalu cek di PC sebelum dipakai lagi.",
        "The disk stopped answering; last writes may be lost.",
        "Unplug it and check it on a PC before using it again.",
    ),
];

fn cause(kind: Option<RunFailure>) -> Option<&'static Cause> {
    let kind = kind?;
    CAUSES.iter().find(|c| c.0 == kind)
}

/// How the backup that failed was started: the advice on trying again follows it (a failed
/// command-line backup is not retried with the button, a scheduled one retries by itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StartedBy {
    Button,
    Command,
    Schedule,
}

impl StartedBy {
    /// What to do to try again, to end a sentence.
    fn retry(self, language: Language) -> &'static str {
        match (self, language) {
            (StartedBy::Button, Language::Id) => "tekan tombol lagi",
            (StartedBy::Command, Language::Id) => "jalankan `backup` lagi",
            (StartedBy::Schedule, Language::Id) => "tunggu backup berikutnya",
            (StartedBy::Button, Language::En) => "press the button again",
            (StartedBy::Command, Language::En) => "run `backup` again",
            (StartedBy::Schedule, Language::En) => "wait for the next backup",
        }
    }
}

/// The error screen after a backup failed, in the panel's language, with advice that fits the
/// way it was started.
pub fn backup_failed_info(
    reason: &str,
    kind: Option<RunFailure>,
    started: StartedBy,
    language: Language,
) -> ErrorInfo {
    let reason = reason.trim();
    let retry = started.retry(language);
    let todo = |t: &str| t.replace("{retry}", retry);
    match (cause(kind), language) {
        (Some((_, what, t, _, _)), Language::Id) => ErrorInfo {
            what: format!("Backup gagal: {what}"),
            todo: todo(t),
        },
        (Some((_, _, _, what, t)), Language::En) => ErrorInfo {
            what: format!("Backup failed: {what}"),
            todo: todo(t),
        },
        (None, Language::Id) => ErrorInfo {
            what: format!("Backup gagal: {reason}"),
            todo: todo("Periksa disk dan database, lalu {retry}."),
        },
        (None, Language::En) => ErrorInfo {
            what: format!("Backup failed: {reason}"),
            todo: todo("Check the disk and the database, then {retry}."),
        },
    }
}

/// The error screen after a safe eject failed: the disk must stay in.
pub fn eject_failed_info(reason: &str, kind: EjectFailure, language: Language) -> ErrorInfo {
    match (EJECT_CAUSES.iter().find(|c| c.0 == kind), language) {
        (Some((_, what, todo, _, _)), Language::Id)
        | (Some((_, _, _, what, todo)), Language::En) => {
            return ErrorInfo {
                what: (*what).to_string(),
                todo: (*todo).to_string(),
            }
        }
        (None, _) => {}
    }
    match language {
        Language::Id => ErrorInfo {
            what: format!("Gagal melepas disk: {}", reason.trim()),
            todo: "Jangan cabut disk dulu. Tahan tombol 3 detik untuk mencoba lagi.".to_string(),
        },
        Language::En => ErrorInfo {
            what: format!("Eject failed: {}", reason.trim()),
            todo: "Do not pull the disk yet. Hold the button 3 s to try again.".to_string(),
        },
    }
}

#[cfg(test)]
mod cause_tests {
    use super::*;

    #[test]
    fn common_causes_are_told_in_indonesian() {
        let r = "/run/simdondar-backup/disks/ab12: disk full while writing pmi.sql.zst";
        let full = Some(RunFailure::Copy(CopyFailure::Full));
        let i = backup_failed_info(r, full, StartedBy::Button, Language::Id);
        assert_eq!(i.what, "Backup gagal: disk penuh");
        assert!(i.todo.starts_with("Ganti disk"), "{}", i.todo);
        let e = backup_failed_info(r, full, StartedBy::Button, Language::En);
        assert_eq!(e.what, "Backup failed: disk full");
        let u = backup_failed_info(
            "database unreachable at 10.0.0.5:3306: timeout",
            Some(RunFailure::DatabaseUnreachable),
            StartedBy::Button,
            Language::Id,
        );
        assert_eq!(u.what, "Backup gagal: database terputus");
        let n = backup_failed_info(
            "/run/x: the disk stopped answering",
            Some(RunFailure::Copy(CopyFailure::NotAnswering)),
            StartedBy::Button,
            Language::Id,
        );
        assert_eq!(n.what, "Backup gagal: disk tak merespons");
    }

    #[test]
    fn the_kind_decides_never_the_text() {
        // Words that look like a common cause do not choose the panel's words without the kind.
        let i = backup_failed_info(
            "tar: disk full while writing",
            None,
            StartedBy::Button,
            Language::En,
        );
        assert_eq!(i.what, "Backup failed: tar: disk full while writing");
        let i = backup_failed_info(
            "something the engine said",
            Some(RunFailure::Copy(CopyFailure::Io)),
            StartedBy::Button,
            Language::En,
        );
        assert_eq!(i.what, "Backup failed: disk failing");
    }

    #[test]
    fn the_idle_alert_line_uses_the_same_words() {
        let t = texts(Language::Id);
        let f = Failure::LastBackupFailed {
            reason: "1 of 2 copies written; /run/x: disk full while writing a".into(),
            failure: Some(RunFailure::Copy(CopyFailure::Full)),
        };
        assert_eq!(t.failure(&f), "disk penuh");
        let f = Failure::LastBackupFailed {
            reason: "tar failed with exit code 2".into(),
            failure: Some(RunFailure::SourceFailed),
        };
        assert_eq!(t.failure(&f), "tar failed with exit code 2");
    }

    #[test]
    fn an_unknown_reason_is_shown_as_it_is_with_indonesian_advice() {
        let i = backup_failed_info(
            "tar failed with exit code 2",
            Some(RunFailure::SourceFailed),
            StartedBy::Button,
            Language::Id,
        );
        assert_eq!(i.what, "Backup gagal: tar failed with exit code 2");
        assert!(i.todo.contains("tekan tombol"), "{}", i.todo);
        let busy = eject_failed_info(
            "/dev/sdc1 is still in use by another program (a terminal…)",
            EjectFailure::InUse,
            Language::Id,
        );
        assert_eq!(busy.what, "Disk masih dipakai program lain.");
        let j = eject_failed_info(
            "/run/x is still mounted",
            EjectFailure::StillMounted,
            Language::Id,
        );
        assert!(j.what.starts_with("Gagal melepas disk"), "{}", j.what);
        assert!(j.todo.contains("Jangan cabut"), "{}", j.todo);
    }

    #[test]
    fn the_advice_to_try_again_follows_how_the_backup_was_started() {
        let gone = Some(RunFailure::Copy(CopyFailure::Gone));
        let r = "/run/x: the disk was removed";
        let b = backup_failed_info(r, gone, StartedBy::Button, Language::Id);
        assert_eq!(b.todo, "Colokkan kembali disk, lalu tekan tombol lagi.");
        let c = backup_failed_info(r, gone, StartedBy::Command, Language::Id);
        assert_eq!(
            c.todo,
            "Colokkan kembali disk, lalu jalankan `backup` lagi."
        );
        let s = backup_failed_info(r, None, StartedBy::Schedule, Language::En);
        assert_eq!(
            s.todo,
            "Check the disk and the database, then wait for the next backup."
        );
        for started in [StartedBy::Button, StartedBy::Command, StartedBy::Schedule] {
            for c in CAUSES {
                for language in [Language::Id, Language::En] {
                    let i = backup_failed_info(r, Some(c.0), started, language);
                    assert!(!i.todo.contains('{'), "{i:?}");
                    assert!(i.todo.chars().count() <= 60, "{i:?}");
                    if started != StartedBy::Button {
                        assert!(
                            !i.todo.contains("tombol") && !i.todo.contains("button"),
                            "{started:?}: {i:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn every_todo_is_short_enough_for_the_error_screen() {
        for c in CAUSES {
            assert!(
                c.2.chars().count() <= 60 && c.4.chars().count() <= 60,
                "{c:?}"
            );
            // The idle screen's alert line: "! " + this + " 1/3" in 21 characters.
            assert!(
                c.1.chars().count() <= 19 && c.3.chars().count() <= 19,
                "{c:?}"
            );
        }
    }
}
