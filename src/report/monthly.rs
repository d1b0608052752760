/*!
The SOP report on the disks themselves (issue 18): the appliance has no screen but the OLED and no
SSH, so the monthly report (Pelaporan) travels on the disks, where IT Support and the auditor open
it on any laptop, with no network (the pages are self-contained).

[`write_month_reports`] runs after each backup on every disk written (auto and manual):

- the **running month**, `SIMDONDAR-BACKUP/LAPORAN/YYYY-MM.html` and `.csv`, rewritten each time
  (days still to come say "belum");
- every **closed month** since the catalog's first run (at most [`MAX_CLOSED`] back) that the disk
  does not hold closed yet: written once, in its final form, and never changed afterwards. Which
  months are closed, and the SHA-256 of their two files, is kept in `LAPORAN/months.json`, so an
  auditor can check that a closed report was not edited.

The language is the panel's (`language` in the configuration).
*/

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::ReportError;
use crate::backup::layout::ROOT_DIR;
use crate::backup::writer::write_atomically;
use crate::catalog::Catalog;
use crate::config::Config;
use crate::safe_fs::Dir;

/// The folder below `SIMDONDAR-BACKUP/`.
pub const DIR: &str = "LAPORAN";

/// The list of closed months in [`DIR`].
pub const MONTHS_FILE: &str = "months.json";

/// How many closed months back are written to a disk that has none of them.
pub const MAX_CLOSED: u32 = 12;

/// `months.json` files larger than this are not read.
const MAX_MONTHS_BYTES: u64 = 256 * 1024;

/// A closed month's files as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Closed {
    /// When it was written (UTC, RFC 3339).
    pub closed_at: String,
    pub html_sha256: String,
    pub csv_sha256: String,
}

/// `months.json`: `YYYY-MM` → its closed files.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Months {
    pub closed: BTreeMap<String, Closed>,
}

/// What one call wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    /// `YYYY-MM` of the running month.
    pub running: Option<String>,
    /// Months closed by this call.
    pub closed: Vec<String>,
}

/// The first and last day of the month holding `d`.
fn month_of(d: NaiveDate) -> (NaiveDate, NaiveDate) {
    let first = d.with_day(1).unwrap_or(d);
    let next = first
        .checked_add_months(chrono::Months::new(1))
        .unwrap_or(first);
    (first, next.pred_opt().unwrap_or(first))
}

fn key(first: NaiveDate) -> String {
    format!("{:04}-{:02}", first.year(), first.month())
}

fn sha256_hex(bytes: &[u8]) -> String {
    crate::util::hex(&Sha256::digest(bytes))
}

/// Reads `months.json` in `dir`: a missing file is no closed month (`Ok`); one that cannot be
/// read or parsed is `Err` with why (its months' files are then kept as found, never rewritten).
fn read_months(dir: &Dir) -> Result<Months, String> {
    let f = match dir.open_read(MONTHS_FILE) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Months::default()),
        Err(e) => return Err(e.to_string()),
    };
    let mut bytes = Vec::new();
    f.take(MAX_MONTHS_BYTES)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    serde_json::from_slice(&bytes).map_err(|e| e.to_string())
}

/// Writes the running month's report and every closed month the disk lacks onto the target at
/// `root`, as of now.
pub fn write_month_reports(
    root: &Path,
    catalog: &Catalog,
    cfg: &Config,
    known: &BTreeMap<String, String>,
) -> Result<Written, ReportError> {
    write_month_reports_at(root, catalog, cfg, Utc::now(), known)
}

/// [`write_month_reports`] as of `now`. No disk but `root` is touched: targets are named from
/// `known` (path → label) or from the catalog ([`super::sop::sop_report_known_at`]).
pub fn write_month_reports_at(
    root: &Path,
    catalog: &Catalog,
    cfg: &Config,
    now: DateTime<Utc>,
    known: &BTreeMap<String, String>,
) -> Result<Written, ReportError> {
    let folder = root.join(ROOT_DIR).join(DIR);
    let write_err = |detail: String| ReportError::Write {
        path: folder.clone(),
        detail,
    };
    let top = Dir::open(root).map_err(|e| write_err(e.to_string()))?;
    let base = top
        .create_dir(ROOT_DIR)
        .map_err(|e| write_err(e.to_string()))?;
    let dir = base.create_dir(DIR).map_err(|e| write_err(e.to_string()))?;
    let today = now.with_timezone(&cfg.timezone).date_naive();
    let (this_first, this_last) = month_of(today);
    let (mut months, trust_files) = match read_months(&dir) {
        Ok(m) => (m, false),
        Err(e) => {
            log::warn!(
                "{} on {}: {e}; month reports already on the disk are kept as they are",
                MONTHS_FILE,
                root.display()
            );
            (Months::default(), true)
        }
    };
    let mut written = Written::default();

    // Closed months: from the first run's month (at most MAX_CLOSED back) to last month.
    let first_run = catalog
        .first_run_unix()
        .map_err(|e| ReportError::Catalog(e.to_string()))?
        .and_then(|u| cfg.timezone.timestamp_opt(u, 0).single())
        .map(|t| t.date_naive());
    if let Some(first_run) = first_run {
        let oldest = this_first
            .checked_sub_months(chrono::Months::new(MAX_CLOSED))
            .unwrap_or(this_first)
            .max(month_of(first_run).0);
        let mut m = oldest;
        while m < this_first {
            let (first, last) = month_of(m);
            let k = key(first);
            // A closed month is written once. With months.json unreadable, a month whose report
            // is already on the disk is not rewritten either: it is recorded as found, so the
            // disk's own files stay what they were.
            if !months.closed.contains_key(&k) {
                if let Some(found) = trust_files.then(|| found_closed(&dir, &k)).flatten() {
                    months.closed.insert(k.clone(), found);
                    written.closed.push(k);
                    m = first
                        .checked_add_months(chrono::Months::new(1))
                        .unwrap_or(this_first);
                    continue;
                }
                let (html, csv) = render(catalog, cfg, first, last, now, known)?;
                put(&dir, &k, &html, &csv).map_err(write_err)?;
                months.closed.insert(
                    k.clone(),
                    Closed {
                        closed_at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                        html_sha256: sha256_hex(html.as_bytes()),
                        csv_sha256: sha256_hex(csv.as_bytes()),
                    },
                );
                written.closed.push(k);
            }
            m = first
                .checked_add_months(chrono::Months::new(1))
                .unwrap_or(this_first);
        }
        if !written.closed.is_empty() {
            let json = serde_json::to_vec_pretty(&months)
                .map_err(|e| write_err(format!("{MONTHS_FILE}: {e}")))?;
            write_atomically(&dir, MONTHS_FILE, &json)
                .map_err(|e| write_err(format!("{MONTHS_FILE}: {e}")))?;
        }
    }

    // The running month, rewritten each time, unless it is closed already (the clock went back:
    // a Raspberry Pi without a clock battery before NTP answers, or a time zone changed).
    let k = key(this_first);
    if months.closed.contains_key(&k) {
        log::warn!(
            "{k} is closed on {}: its report is not rewritten (the clock is behind?)",
            root.display()
        );
        dir.sync().map_err(|e| write_err(e.to_string()))?;
        return Ok(written);
    }
    let (html, csv) = render(catalog, cfg, this_first, this_last, now, known)?;
    put(&dir, &k, &html, &csv).map_err(write_err)?;
    written.running = Some(k);
    dir.sync().map_err(|e| write_err(e.to_string()))?;
    Ok(written)
}

/// A closed month's files already on the disk, when `months.json` does not list them: their
/// hashes as found (`closed_at` empty: not closed by this appliance's records).
fn found_closed(dir: &Dir, k: &str) -> Option<Closed> {
    let read = |name: String| -> Option<Vec<u8>> {
        let mut b = Vec::new();
        dir.open_read(&name).ok()?.read_to_end(&mut b).ok()?;
        Some(b)
    };
    let html = read(format!("{k}.html"))?;
    let csv = read(format!("{k}.csv"))?;
    Some(Closed {
        closed_at: String::new(),
        html_sha256: sha256_hex(&html),
        csv_sha256: sha256_hex(&csv),
    })
}

fn render(
    catalog: &Catalog,
    cfg: &Config,
    first: NaiveDate,
    last: NaiveDate,
    now: DateTime<Utc>,
    known: &BTreeMap<String, String>,
) -> Result<(String, String), ReportError> {
    let r = super::sop::sop_report_known_at(catalog, cfg, first, last, now, known)?;
    Ok((r.to_html(), r.to_csv()))
}

fn put(dir: &Dir, k: &str, html: &str, csv: &str) -> Result<(), String> {
    for (name, body) in [(format!("{k}.html"), html), (format!("{k}.csv"), csv)] {
        write_atomically(dir, &name, body.as_bytes()).map_err(|e| format!("{name}: {e}"))?;
    }
    Ok(())
}

/// The month reports on the target at `root`, newest first: (`YYYY-MM`, closed).
pub fn listed(root: &Path) -> Vec<(String, bool)> {
    let Ok(top) = Dir::open(root) else {
        return Vec::new();
    };
    let Ok(dir) = top.open_dirs([ROOT_DIR, DIR]) else {
        return Vec::new();
    };
    let months = read_months(&dir).unwrap_or_default();
    let mut v: Vec<(String, bool)> = dir
        .entries()
        .unwrap_or_default()
        .into_iter()
        .filter(|(_, is_dir)| !is_dir)
        .filter_map(|(name, _)| {
            let k = name.strip_suffix(".html")?;
            let ok = k.len() == 7
                && k.as_bytes()[4] == b'-'
                && k.bytes()
                    .enumerate()
                    .all(|(i, b)| i == 4 || b.is_ascii_digit());
            ok.then(|| (k.to_string(), months.closed.contains_key(k)))
        })
        .collect();
    v.sort_by(|a, b| b.0.cmp(&a.0));
    v
}
