/*!
The documents people print, sign and file: the SOP report, the index every disk carries, and the
handover receipt of each manual copy (SOP UTDP-SIM-L2-003, "Pelaporan"; docs/reports.md).

- [`sop_report`]: per local day of a period, the automatic and manual backups, copies per disk,
  re-verifications, restore tests and every gap named; as CSV ([`Report::to_csv`]) and as a
  printable A4 page ([`Report::to_html`]).
- [`write_disk_index`]: `SIMDONDAR-BACKUP/INDEX.csv` and `INDEX.html` on a target, newest backup
  first, with how to restore with and without this program.
- [`receipt_html`] and [`write_receipt`]: the "tanda terima" of a manual copy, with blanks for the
  Administrator and IT Support to sign.
- [`monthly::write_month_reports`]: the running month's SOP report and every closed month's,
  onto each disk written (`SIMDONDAR-BACKUP/LAPORAN/`), linked from its INDEX.

The pages are self-contained (inline style, no script, no external resource), lay out on A4, and
speak Bahasa Indonesia or English as `language` says; all their words live in [`texts`]. Anything
that comes from a disk or an error message is escaped and cleaned before it reaches a page.
Files on targets are written through [`crate::safe_fs::Dir`] handles (never through a symlink) and
[`crate::backup::writer::write_atomically`].
*/

mod csv;
pub mod html;
pub mod index;
pub mod monthly;
pub mod receipt;
pub mod sop;
pub mod texts;

use std::fmt;
use std::path::PathBuf;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

pub use index::{write_disk_index, DiskIndex};
pub use receipt::{receipt_file_name, receipt_html, write_receipt, ReceiptData, ReceiptFile};
pub use sop::{sop_report, sop_report_at, Counts, Day, DayGap, DayState, ManualGap, Report};

/// A document cannot be produced or written.
#[derive(Debug)]
pub enum ReportError {
    /// The period's start is after its end.
    Period { from: NaiveDate, to: NaiveDate },
    /// The period is longer than one report covers.
    TooLong { days: i64 },
    /// The catalog cannot be read.
    Catalog(String),
    /// A target (disk or folder) cannot be read.
    Target { path: PathBuf, detail: String },
    /// A backup's manifest or checksum file cannot be used.
    Backup { path: PathBuf, detail: String },
    /// A document cannot be written.
    Write { path: PathBuf, detail: String },
}

impl fmt::Display for ReportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReportError::Period { from, to } => write!(
                f,
                "the report period is reversed: --from {from} is after --to {to}; give the earlier date first"
            ),
            ReportError::TooLong { days } => write!(
                f,
                "the report period spans {days} days; one report covers at most {} days (make one report per month or per year)",
                sop::MAX_DAYS
            ),
            ReportError::Catalog(detail) => write!(
                f,
                "cannot read the catalog for the report: {detail} (check that state_dir is readable; `simdondar-backup status` shows whether the catalog opens)"
            ),
            ReportError::Target { path, detail } => write!(
                f,
                "cannot read the backups on {}: {detail} (is the disk still mounted and readable?)",
                path.display()
            ),
            ReportError::Backup { path, detail } => write!(
                f,
                "cannot describe the backup {}: {detail} (check the copy with `simdondar-backup verify --target` on that disk)",
                path.display()
            ),
            ReportError::Write { path, detail } => write!(
                f,
                "cannot write {}: {detail} (is the disk full, read-only or removed?)",
                path.display()
            ),
        }
    }
}

impl std::error::Error for ReportError {}

/// The first instant of a local day (the earliest, should the zone skip midnight).
pub(crate) fn day_start(tz: Tz, d: NaiveDate) -> DateTime<Tz> {
    let midnight = d.and_time(NaiveTime::MIN);
    let mut t = midnight;
    for _ in 0..8 {
        if let Some(x) = tz.from_local_datetime(&t).earliest() {
            return x;
        }
        t += chrono::Duration::minutes(30);
    }
    tz.from_utc_datetime(&midnight)
}

/// A Unix time in the zone.
pub(crate) fn from_unix(tz: Tz, unix: i64) -> Option<DateTime<Tz>> {
    Utc.timestamp_opt(unix, 0)
        .single()
        .map(|u| u.with_timezone(&tz))
}

/// A recorded time (RFC 3339, or `YYYY-MM-DD HH:MM:SS` taken as local) in the zone.
pub(crate) fn parse_time(s: &str, tz: Tz) -> Option<DateTime<Tz>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s.trim()) {
        return Some(t.with_timezone(&tz));
    }
    NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%d %H:%M:%S")
        .ok()
        .and_then(|n| tz.from_local_datetime(&n).earliest())
}

/// `dd-mm-yyyy`, as dates are written in Indonesia.
pub(crate) fn fmt_date(d: NaiveDate) -> String {
    d.format("%d-%m-%Y").to_string()
}

/// `dd-mm-yyyy HH:MM WIB` (the zone's abbreviation).
pub(crate) fn fmt_datetime(t: &DateTime<Tz>) -> String {
    t.format("%d-%m-%Y %H:%M %Z").to_string()
}

#[cfg(test)]
mod tests;
