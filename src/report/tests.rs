//! The report's rules against hand-written catalog rows, the index and the receipt against files
//! written by hand, and the escaping of hostile labels.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{NaiveDate, TimeZone, Utc};
use chrono_tz::Asia::Jakarta;

use super::index::{DiskIndex, IndexRow};
use super::receipt::file_label;
use super::sop::{CheckRec, CopyRec, Params, Rows, RunRec};
use super::*;
use crate::backup::inventory::Entry;
use crate::backup::manifest::Manifest;
use crate::config::{Config, Language};

fn date(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, d).expect("date")
}

/// Unix time of 2026-11-DD HH:MM in Jakarta.
fn at(d: u32, h: u32, m: u32) -> i64 {
    Jakarta
        .with_ymd_and_hms(2026, 11, d, h, m, 0)
        .single()
        .expect("time")
        .timestamp()
}

fn at_oct(d: u32, h: u32) -> i64 {
    Jakarta
        .with_ymd_and_hms(2026, 10, d, h, 0, 0)
        .single()
        .expect("time")
        .timestamp()
}

struct Book {
    rows: Rows,
    next: i64,
}

impl Book {
    fn new() -> Book {
        Book {
            rows: Rows::default(),
            next: 1,
        }
    }

    fn run(&mut self, source: &str, trigger: &str, unix: i64, copies: &[(&str, &str, bool)]) {
        let id = self.next;
        self.next += 1;
        let ok = !copies.is_empty() && copies.iter().all(|c| c.2);
        self.rows.runs.push(RunRec {
            id,
            source: source.into(),
            trigger: trigger.into(),
            status: if ok { "ok" } else { "failed" }.into(),
            started_unix: unix,
            reason: (!ok).then(|| "database unreachable at socket /run/mysqld/mysqld.sock".into()),
        });
        for (target, role, ok) in copies {
            self.rows.copies.push(CopyRec {
                run_id: id,
                target: (*target).into(),
                role: Some((*role).into()),
                ok: *ok,
            });
        }
    }
}

fn params(from: u32, to: u32, now: i64, lang: Language) -> Params {
    let mut names = BTreeMap::new();
    names.insert("/srv/hdd".to_string(), "HDD-UTAMA".to_string());
    names.insert("/media/flash".to_string(), "SIMBAK-01".to_string());
    Params {
        language: lang,
        unit: "utd-backup".into(),
        from: date(from),
        to: date(to),
        timezone: Jakarta,
        now: Utc.timestamp_opt(now, 0).single().expect("now"),
        manual_reminder: std::time::Duration::from_secs(3 * 86_400),
        daily_sources: vec!["pmi".into(), "program".into()],
        target_names: names,
    }
}

/// A week: 1 complete, 2 nothing verified, 3 program missing, 4 manual copy; now = 5th noon.
fn week() -> Book {
    let mut b = Book::new();
    let hdd = ("/srv/hdd", "auto", true);
    b.run("pmi", "schedule", at(1, 1, 2), &[hdd]);
    b.run("pmi", "schedule", at(1, 2, 2), &[hdd]);
    b.run("program", "schedule", at(1, 3, 0), &[hdd]);
    b.run(
        "pmi",
        "schedule",
        at(2, 1, 2),
        &[("/srv/hdd", "auto", false)],
    );
    b.run("pmi", "schedule", at(3, 1, 2), &[hdd]);
    b.run(
        "pmi",
        "button",
        at(4, 10, 0),
        &[hdd, ("/media/flash", "manual", true)],
    );
    b.run("program", "schedule", at(4, 3, 0), &[hdd]);
    b.run("program", "cli", at(4, 15, 0), &[hdd]);
    b.rows.manual_before = Some(at_oct(30, 9));
    b.rows.first_run = Some(at_oct(1, 0));
    b.rows.verifications = vec![
        CheckRec {
            at: "2026-11-03T08:00:00+07:00".into(),
            ok: true,
            subject: "SIMDONDAR-BACKUP/pmi/2026/11/01/a.sql.zst".into(),
            detail: None,
        },
        CheckRec {
            at: "2026-11-03T01:30:00.123456+00:00".into(),
            ok: false,
            subject: "SIMDONDAR-BACKUP/pmi/2026/11/01/b.sql.zst".into(),
            detail: Some("checksum mismatch".into()),
        },
        CheckRec {
            at: "not a time".into(),
            ok: true,
            subject: "x".into(),
            detail: None,
        },
    ];
    b.rows.restore_tests = vec![CheckRec {
        at: "2026-11-04T20:00:00+07:00".into(),
        ok: true,
        subject: "pmi: a".into(),
        detail: None,
    }];
    b
}

fn week_report(lang: Language) -> Report {
    let b = week();
    Report::build(&params(1, 7, at(5, 12, 0), lang), &b.rows).expect("report")
}

#[test]
fn counts_each_kind_per_local_day() {
    let r = week_report(Language::Id);
    assert_eq!(r.days.len(), 7);
    let d1 = &r.days[0];
    assert_eq!((d1.automatic.ok, d1.automatic.failed), (3, 0));
    assert!(d1.verified && d1.gaps.is_empty(), "{:?}", d1.gaps);
    let d2 = &r.days[1];
    assert_eq!((d2.automatic.ok, d2.automatic.failed), (0, 1));
    assert!(!d2.verified);
    let d3 = &r.days[2];
    assert_eq!((d3.verifications.ok, d3.verifications.failed), (1, 1));
    let d4 = &r.days[3];
    assert_eq!((d4.manual.ok, d4.manual.failed), (1, 0));
    assert_eq!((d4.other.ok, d4.other.failed), (1, 0));
    assert_eq!(d4.restore_tests.ok, 1);
    // Copies per target: HDD first (auto), then the flashdisk.
    assert_eq!(r.targets[0].name, "HDD-UTAMA");
    assert_eq!(r.targets[1].name, "SIMBAK-01");
    assert_eq!(d4.copies[0].ok, 3);
    assert_eq!(d4.copies[1].ok, 1);
    assert_eq!(r.targets[0].copies.failed, 1);
    assert_eq!(r.days[4].state, DayState::Today);
    assert_eq!(r.days[5].state, DayState::Future);
    assert_eq!(r.undated, 1);
    assert_eq!(
        r.records_since.map(|t| t.date_naive()),
        NaiveDate::from_ymd_opt(2026, 10, 1)
    );
}

#[test]
fn names_every_gap() {
    let r = week_report(Language::Id);
    assert_eq!(r.days[1].gaps[0], DayGap::NoVerifiedBackup);
    assert_eq!(
        r.days[2].gaps[0],
        DayGap::SourcesNotVerified(vec!["program".into()])
    );
    // Manual: 30 Oct 09:00 → 4 Nov 10:00 is more than 3 days: overdue from 2 Nov 09:00.
    assert_eq!(r.manual_gaps.len(), 1, "{:?}", r.manual_gaps);
    let g = &r.manual_gaps[0];
    assert!(!g.open);
    assert_eq!(g.length().num_hours(), 5 * 24 + 1);
    for (i, d) in r.days.iter().enumerate() {
        let overdue = d
            .gaps
            .iter()
            .any(|g| matches!(g, DayGap::ManualOverdue { .. }));
        assert_eq!(overdue, (1..=3).contains(&i), "day {i}: {:?}", d.gaps);
    }
    // Today and later days are never judged for missing backups.
    assert!(r.days[4..].iter().all(|d| d.gaps.is_empty()));
    assert_eq!(r.gap_count(), 3);
    let s = r.gap_sentences();
    assert_eq!(s.len(), 3, "{s:?}");
    assert_eq!(
        s[0],
        "Jarak antar-backup manual 5 hari 1 jam (30-10-2026 09:00 WIB s.d. 04-11-2026 10:00 WIB), melebihi batas 3 hari."
    );
    assert_eq!(
        s[1],
        "Sen 02-11-2026: tidak ada backup terverifikasi sama sekali."
    );
    assert_eq!(
        s[2],
        "Sel 03-11-2026: tidak ada backup terverifikasi untuk sumber program."
    );
}

#[test]
fn an_open_manual_gap_runs_to_the_report_and_no_copy_ever_counts_from_the_start() {
    let mut b = Book::new();
    for d in 1..=7 {
        b.run(
            "pmi",
            "schedule",
            at(d, 1, 0),
            &[("/srv/hdd", "auto", true)],
        );
    }
    let mut p = params(1, 7, at(20, 0, 0), Language::Id);
    p.daily_sources = vec!["pmi".into()];
    let r = Report::build(&p, &b.rows).expect("report");
    assert_eq!(r.manual_gaps.len(), 1);
    let g = &r.manual_gaps[0];
    assert!(g.open && g.last.is_none());
    assert_eq!(g.from.date_naive(), date(1));
    assert_eq!(g.until.date_naive(), date(8));
    // Overdue from 4 Nov 00:00.
    let flagged: Vec<u32> = r
        .days
        .iter()
        .filter(|d| !d.gaps.is_empty())
        .map(|d| chrono::Datelike::day(&d.date))
        .collect();
    assert_eq!(flagged, vec![4, 5, 6, 7]);
    assert!(r.gap_sentences()[0].contains("awal periode 01-11-2026 00:00 WIB"));
    assert!(r
        .to_csv()
        .contains("Backup manual terlambat (tidak ada sejak 01-11-2026)"));
}

#[test]
fn copies_three_days_apart_are_not_a_gap() {
    let mut b = Book::new();
    for d in [1, 4, 7] {
        b.run(
            "pmi",
            "button",
            at(d, 9, 0),
            &[("/media/flash", "manual", true)],
        );
    }
    b.rows.manual_before = Some(at_oct(29, 9));
    let mut p = params(1, 7, at(8, 9, 0), Language::Id);
    p.daily_sources = vec![];
    let r = Report::build(&p, &b.rows).expect("report");
    assert!(r.manual_gaps.is_empty(), "{:?}", r.manual_gaps);
    // No day had only an overdue manual copy; 2, 3, 5, 6 had no verified backup at all.
    assert_eq!(r.gap_days().len(), 4);
}

#[test]
fn a_button_run_that_wrote_nothing_is_a_failed_manual_backup() {
    let mut b = Book::new();
    b.run("pmi", "button", at(1, 9, 0), &[]);
    b.run("pmi", "cli", at(1, 10, 0), &[("/srv/hdd", "auto", true)]);
    let r = Report::build(&params(1, 1, at(9, 0, 0), Language::En), &b.rows).expect("report");
    assert_eq!((r.days[0].manual.ok, r.days[0].manual.failed), (0, 1));
    assert_eq!((r.days[0].other.ok, r.days[0].other.failed), (1, 0));
    assert_eq!(r.failures.len(), 1);
    assert!(r.to_html().contains("Other backups"));
}

#[test]
fn csv_has_a_header_and_one_iso_row_per_day() {
    let r = week_report(Language::Id);
    let csv = r.to_csv();
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 8, "{csv}");
    assert!(lines[0].starts_with("Tanggal,Otomatis berhasil,Otomatis gagal,Manual berhasil"));
    assert!(lines[0].contains("Salinan berhasil: HDD-UTAMA,Salinan gagal: HDD-UTAMA"));
    assert!(
        lines[0].contains("Uji restore gagal,Kunci dikonfirmasi,"),
        "{}",
        lines[0]
    );
    assert!(lines[1].starts_with("2026-11-01,3,0,0,0,0,0,3,0,3,0,0,0,0,0,0,0,0,ya,"));
    assert!(lines[2].starts_with("2026-11-02,0,1,"));
    assert!(lines[2].contains(",tidak,"));
    assert!(
        lines[2].ends_with(
            ",tidak,Tidak ada backup terverifikasi; Backup manual terlambat (terakhir 30-10-2026)"
        ),
        "{}",
        lines[2]
    );
    assert!(lines[5].starts_with("2026-11-05,"));
    assert!(lines[5].contains(",belum,"));
    let header_fields = lines[0].split(',').count();
    for l in &lines[1..] {
        assert!(l.split(',').count() >= header_fields, "{l}");
    }
}

#[test]
fn hostile_labels_and_reasons_never_become_markup() {
    let mut b = week();
    let evil = "<script>alert(\"x\")</script><img src=x onerror=alert(1)>";
    b.run("pmi", "schedule", at(1, 5, 0), &[(evil, "manual", false)]);
    b.rows.runs.last_mut().expect("run").reason = Some(format!("disk said {evil}"));
    let mut p = params(1, 7, at(5, 12, 0), Language::Id);
    p.target_names.insert(evil.into(), format!("=cmd|{evil}"));
    let r = Report::build(&p, &b.rows).expect("report");
    let html = r.to_html();
    for bad in ["<script", "<img", "onerror=alert(1)>"] {
        assert!(!html.contains(bad), "{bad} in the page");
    }
    assert!(html.contains("&lt;script&gt;"));
    markup_is_ours(&html);
    let csv = r.to_csv();
    assert!(csv.contains("\"Salinan berhasil: '=cmd|<script>alert(\"\"x\"\")"));
}

/// Every tag in a page is one this module writes, with no attribute that loads or runs anything.
pub(crate) fn markup_is_ours(html: &str) {
    const TAGS: &[&str] = &[
        "!DOCTYPE", "html", "head", "meta", "title", "style", "body", "header", "footer", "div",
        "h1", "h2", "p", "table", "thead", "tbody", "tfoot", "tr", "th", "td", "span", "br", "ul",
        "li", "strong", "i", "pre", "colgroup", "col",
    ];
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        let tag_end = rest[i..].find('>').map(|e| i + e).expect("tag closed");
        let tag = &rest[i + 1..tag_end];
        let name = tag
            .trim_start_matches('/')
            .split(|c: char| c.is_whitespace())
            .next()
            .unwrap_or("");
        assert!(TAGS.contains(&name), "unexpected tag <{tag}>");
        let lower = tag.to_ascii_lowercase();
        for attr in ["src=", "href=", " on", "url(", "javascript:"] {
            assert!(!lower.contains(attr), "attribute {attr} in <{tag}>");
        }
        if tag == "style" {
            let close = rest[tag_end..].find("</style>").expect("style closed");
            let css = &rest[tag_end..tag_end + close];
            assert!(
                !css.contains("url(") && !css.contains("@import"),
                "external CSS"
            );
            rest = &rest[tag_end + close..];
        } else {
            rest = &rest[tag_end + 1..];
        }
    }
    assert!(!html.contains("<script"));
}

#[test]
fn english_and_indonesian_pages() {
    let id = week_report(Language::Id).to_html();
    assert!(id.contains("<html lang=\"id\">"));
    assert!(id.contains("Laporan Backup Data SIMDONDAR"));
    assert!(id.contains("UTDP-SIM-L2-003"));
    assert!(id.contains("Diperiksa oleh"));
    assert!(id.contains("Tanda tangan"));
    assert!(id.contains("01-11-2026 s.d. 07-11-2026 (7 hari)"));
    assert!(id.contains("utd-backup"));
    assert!(id.contains("@page"));
    assert!(id.contains("@media print"));
    let en = week_report(Language::En).to_html();
    assert!(en.contains("<html lang=\"en\">"));
    assert!(en.contains("SIMDONDAR Data Backup Report"));
    assert!(en.contains("Checked by"));
    assert!(en.contains("No verified backup"));
}

#[test]
fn bad_periods_are_refused_with_advice() {
    let b = Book::new();
    let e = Report::build(&params(7, 1, at(9, 0, 0), Language::Id), &b.rows).expect_err("rev");
    assert!(e.to_string().contains("earlier date first"), "{e}");
    let mut p = params(1, 1, at(9, 0, 0), Language::Id);
    p.from = NaiveDate::from_ymd_opt(2020, 1, 1).expect("date");
    let e = Report::build(&p, &b.rows).expect_err("long");
    assert!(e.to_string().contains("at most 731 days"), "{e}");
}

// ---- the catalog itself ------------------------------------------------------------------

fn config(dir: &Path, lang: &str) -> Config {
    let text = format!(
        "timezone = \"Asia/Jakarta\"\nlanguage = \"{lang}\"\nstate_dir = \"{0}/state\"\nruntime_dir = \"{0}/run\"\n\
         [[source]]\nname = \"pmi\"\nkind = \"command\"\ncommand = [\"true\"]\nextension = \"sql\"\ninterval = \"1h\"\n",
        dir.display()
    );
    Config::parse(&dir.join("config.toml"), &text).expect("config")
}

#[test]
fn reads_the_catalog() {
    use crate::catalog::{Catalog, CopyRow, NewRun, RunEnd};
    let d = tempfile::tempdir().expect("tempdir");
    let cfg = config(d.path(), "id");
    let cat = Catalog::open(&cfg.state_dir).expect("catalog");
    for (day, ok) in [(1, true), (2, false)] {
        let id = cat
            .begin_run(&NewRun {
                source: "pmi",
                kind: "command",
                trigger: "schedule",
                started_at: &format!("2026-11-0{day}T01:00:00+07:00"),
                started_unix: at(day, 1, 0),
            })
            .expect("begin");
        cat.record_copy(&CopyRow {
            run_id: id,
            target: "/srv/hdd".into(),
            path: Some("SIMDONDAR-BACKUP/pmi/x".into()),
            role: Some("auto".into()),
            ok,
            reason: (!ok).then(|| "disk full".into()),
            failure: None,
            bytes: Some(10),
            recorded_at: format!("2026-11-0{day}T01:01:00+07:00"),
        })
        .expect("copy");
        cat.finish_run(
            id,
            &RunEnd {
                ok,
                finished_at: "x".into(),
                reason: (!ok).then(|| "1 of 1 copies failed: disk full".into()),
                ..RunEnd::default()
            },
        )
        .expect("finish");
    }
    cat.record_verification(
        "/srv/hdd",
        "/srv/hdd/SIMDONDAR-BACKUP/pmi/2026/11/01/pmi_20261101-010000.sql.zst",
        false,
        Some("checksum mismatch"),
        "2026-11-02T09:00:00.5+07:00",
    )
    .expect("verify");
    // A key holder confirmed a key check on the 2nd; an unconfirmed challenge is not counted.
    for (id, confirmed) in [("kc1", Some("2026-11-02T10:30:00+07:00")), ("kc2", None)] {
        cat.record_key_check(&crate::catalog::KeyCheckRow {
            id: id.into(),
            recipient: format!("age1{id}pemegangkunci"),
            issued_at: "2026-11-01T09:00:00+07:00".into(),
            disk: "/srv/flash".into(),
            file: "SIMDONDAR-BACKUP/KUNCI/x.age".into(),
            words_sha256: "00".into(),
            confirmed_at: None,
        })
        .expect("key check");
        if let Some(at) = confirmed {
            cat.confirm_key_check(id, at).expect("confirm");
        }
    }
    let now = Utc.timestamp_opt(at(10, 0, 0), 0).single().expect("now");
    let r = sop_report_at(&cat, &cfg, date(1), date(3), now).expect("report");
    assert_eq!(
        r.days.iter().map(|d| d.key_checks).collect::<Vec<_>>(),
        vec![0, 1, 0]
    );
    assert_eq!(r.key_checks.len(), 1);
    assert_eq!(r.key_checks[0].1, "age1kc1pemegangkunci");
    assert!(r.to_html().contains("age1kc1pemegangkunci"));
    assert!(!r.to_html().contains("age1kc2pemegangkunci"));
    assert!(r.days[0].verified);
    assert_eq!(r.days[1].automatic.failed, 1);
    assert_eq!(r.days[1].verifications.failed, 1);
    assert_eq!(r.days[1].gaps[0], DayGap::NoVerifiedBackup);
    assert_eq!(r.days[2].gaps[0], DayGap::NoVerifiedBackup);
    let f: Vec<&str> = r.failures.iter().map(|f| f.subject.as_str()).collect();
    assert_eq!(
        f,
        vec![
            "pmi",
            "SIMDONDAR-BACKUP/pmi/2026/11/01/pmi_20261101-010000.sql.zst"
        ]
    );
    assert_eq!(r.targets[0].name, "/srv/hdd");
}

// ---- the disk index and the receipt -----------------------------------------------------

fn manifest(name: &str, encrypted: bool, parts: &[&str]) -> Manifest {
    let json = serde_json::json!({
        "format": 1,
        "source": "pmi",
        "kind": "mysql",
        "started_at": "2026-11-26T10:00:05+07:00",
        "finished_at": "2026-11-26T10:03:00+07:00",
        "databases": ["pmi", "sms", "wagw"],
        "compression": "zstd",
        "encrypted": encrypted,
        "recipients": if encrypted { vec!["age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq"] } else { vec![] },
        "bytes_raw": 5_000_000_000u64,
        "bytes_stored": 1_288_490_189u64,
        "sha256": "ab".repeat(32),
        "parts": if parts.is_empty() { vec![name] } else { parts.to_vec() },
        "tool_version": "simdondar-backup 0.1.0",
        "trigger": "button",
        "role": "manual",
        "host": "utd-backup",
    });
    Manifest::from_json(json.to_string().as_bytes()).expect("manifest")
}

fn entry(name: &str, m: Result<Manifest, String>) -> Entry {
    Entry {
        source: "pmi".into(),
        data_path: Path::new("/disk/SIMDONDAR-BACKUP/pmi/2026/11/26").join(name),
        dir_components: ["SIMDONDAR-BACKUP", "pmi", "2026", "11", "26"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        data_name: name.into(),
        completeness: match &m {
            Ok(_) => crate::backup::inventory::Completeness::Complete,
            Err(e) => crate::backup::inventory::Completeness::ManifestInvalid { error: e.clone() },
        },
        manifest: m,
    }
}

#[test]
fn restore_commands_for_clear_encrypted_and_split_backups() {
    let t = texts::texts(Language::Id);
    let clear = IndexRow::from_entry(
        &entry(
            "pmi_20261126-100005.sql.zst",
            Ok(manifest("pmi_20261126-100005.sql.zst", false, &[])),
        ),
        Jakarta,
    );
    let (with, without) = clear.restore_commands(t);
    assert_eq!(
        with,
        "simdondar-backup restore \\\n    SIMDONDAR-BACKUP/pmi/2026/11/26/pmi_20261126-100005.sql.zst \\\n    --stdout | mariadb --max-allowed-packet=1G"
    );
    assert_eq!(
        without,
        "(cd SIMDONDAR-BACKUP/pmi/2026/11/26 && sha256sum -c pmi_20261126-100005.sql.zst.sha256) && \\\n    zstd -dc SIMDONDAR-BACKUP/pmi/2026/11/26/pmi_20261126-100005.sql.zst \\\n    | mariadb --max-allowed-packet=1G"
    );
    // Every printed line fits the page (about 105 characters of the command font).
    assert!(
        without.lines().all(|l| l.chars().count() <= 105),
        "{without}"
    );
    let enc = IndexRow::from_entry(
        &entry(
            "pmi_20261126-100005.sql.zst.age",
            Ok(manifest("pmi_20261126-100005.sql.zst.age", true, &[])),
        ),
        Jakarta,
    );
    let (with, without) = enc.restore_commands(t);
    assert!(with.contains("--identity kunci-age.txt --stdout"), "{with}");
    assert!(
        without.ends_with("&& \\\n    age -d -i kunci-age.txt SIMDONDAR-BACKUP/pmi/2026/11/26/pmi_20261126-100005.sql.zst.age \\\n    | zstd -d | mariadb --max-allowed-packet=1G"),
        "{without}"
    );
    let split = IndexRow::from_entry(
        &entry(
            "pmi_20261126-100005.sql.zst",
            Ok(manifest(
                "x",
                false,
                &[
                    "pmi_20261126-100005.sql.zst.part000",
                    "pmi_20261126-100005.sql.zst.part001",
                ],
            )),
        ),
        Jakarta,
    );
    let (_, without) = split.restore_commands(t);
    assert!(
        without.contains("cat SIMDONDAR-BACKUP/pmi/2026/11/26/pmi_20261126-100005.sql.zst.part* \\\n    | zstd -d | mariadb"),
        "{without}"
    );
}

#[test]
fn index_lists_backups_and_unreadable_manifests() {
    let now = Utc.timestamp_opt(at(27, 8, 0), 0).single().expect("now");
    let entries = vec![
        entry(
            "pmi_20261126-100005.sql.zst.age",
            Ok(manifest("pmi_20261126-100005.sql.zst.age", true, &[])),
        ),
        entry(
            "pmi_20261125-100000.sql.zst",
            Err("<b>broken</b> json".into()),
        ),
    ];
    let idx = DiskIndex::build(&entries, None, Language::Id, Jakarta, now);
    let csv = idx.to_csv();
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(lines[1].starts_with("26-11-2026 10:00 WIB,2026-11-26T10:00:05+07:00,pmi,mysql,pmi sms wagw,SIMDONDAR-BACKUP/pmi/2026/11/26,pmi_20261126-100005.sql.zst.age,1288490189,\"1,2 GB\","), "{}", lines[1]);
    assert!(lines[1].contains(",ya,manual,tombol,"));
    assert!(lines[2].contains("manifest tidak terbaca: <b>broken</b> json"));
    let html = idx.to_html();
    assert!(html.contains("&lt;b&gt;broken&lt;/b&gt;"));
    markup_is_ours(&html);
    assert!(!html.contains("<b>broken"));
    assert!(html.contains("Cara restore"));
    assert!(html.contains("age -d -i kunci-age.txt"));
    assert!(html.contains("26-11-2026 10:00 WIB"));
}

#[test]
fn index_marks_a_copy_whose_data_is_not_complete_as_not_counted() {
    let now = Utc.timestamp_opt(at(27, 8, 0), 0).single().expect("now");
    let mut short = entry(
        "pmi_20261126-100005.sql.zst",
        Ok(manifest("pmi_20261126-100005.sql.zst", false, &[])),
    );
    short.completeness = crate::backup::inventory::Completeness::MissingPart {
        part: "pmi_20261126-100005.sql.zst".into(),
    };
    let idx = DiskIndex::build(&[short], None, Language::En, Jakarta, now);
    let csv = idx.to_csv();
    assert!(csv.contains("NOT COUNTED as a backup: data file"), "{csv}");
    let html = idx.to_html();
    markup_is_ours(&html);
    assert!(html.contains("NOT COUNTED as a backup"), "{html}");
    assert!(
        html.contains("26-11-2026 10:00 WIB"),
        "the start time stays"
    );
}

#[test]
fn writes_the_index_atomically_and_replaces_a_planted_symlink() {
    let d = tempfile::tempdir().expect("tempdir");
    let cfg = config(d.path(), "id");
    let root = d.path().join("disk");
    let folder = root.join("SIMDONDAR-BACKUP");
    std::fs::create_dir_all(&folder).expect("mkdir");
    let victim = d.path().join("victim.txt");
    std::fs::write(&victim, "keep").expect("victim");
    std::os::unix::fs::symlink(&victim, folder.join("INDEX.html")).expect("symlink");
    write_disk_index(&root, &cfg).expect("index");
    assert_eq!(std::fs::read_to_string(&victim).expect("read"), "keep");
    let md = std::fs::symlink_metadata(folder.join("INDEX.html")).expect("stat");
    assert!(md.file_type().is_file());
    let html = std::fs::read_to_string(folder.join("INDEX.html")).expect("read");
    assert!(html.contains("Belum ada backup di disk ini."));
    let csv = std::fs::read_to_string(folder.join("INDEX.csv")).expect("read");
    assert_eq!(csv.lines().count(), 1);
    assert!(!folder.join("INDEX.csv.partial").exists());

    // A symlinked SIMDONDAR-BACKUP folder is refused, not followed.
    let root2 = d.path().join("disk2");
    std::fs::create_dir_all(&root2).expect("mkdir");
    let outside = d.path().join("outside");
    std::fs::create_dir_all(&outside).expect("mkdir");
    std::os::unix::fs::symlink(&outside, root2.join("SIMDONDAR-BACKUP")).expect("symlink");
    assert!(write_disk_index(&root2, &cfg).is_err());
    assert_eq!(std::fs::read_dir(&outside).expect("read").count(), 0);
}

fn receipt(lang: Language) -> ReceiptData {
    let d = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(d.path(), "id");
    cfg.language = lang;
    let m = manifest("pmi_20261126-100005.sql.zst.age", true, &[]);
    let mut r = ReceiptData::from_manifest(&m, "SIMDONDAR-BACKUP/pmi/2026/11/26", vec![], &cfg)
        .expect("receipt");
    r.disk_label = "SIMBAK-01".into();
    r.disk_id = Some("6f1c2a7e-1d2b-4c55-9a0e-3b1f0e2d4c11".into());
    r
}

#[test]
fn receipt_names_everything_that_was_handed_over() {
    let r = receipt(Language::Id);
    let html = receipt_html(&r);
    for want in [
        "Tanda Terima Salinan Backup SIMDONDAR",
        "TT-20261126-100005-SIMBAK-01",
        "Kamis, 26-11-2026 10:00 WIB",
        "utd-backup",
        "SIMBAK-01",
        "6f1c2a7e-1d2b-4c55-9a0e-3b1f0e2d4c11",
        "pmi, sms, wagw",
        "age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq",
        "pmi_20261126-100005.sql.zst.age",
        &format!("{}<br>{}", "ab".repeat(16), "ab".repeat(16)),
        "1.288.490.189 byte",
        "Yang menyerahkan",
        "Administrator",
        "Yang menerima",
        "IT Support",
        "Tanda tangan",
        "sha256sum -c pmi_20261126-100005.sql.zst.age.sha256",
    ] {
        assert!(html.contains(want), "missing {want:?}");
    }
    assert!(!html.contains("TIDAK terenkripsi"));
    let mut clear = r.clone();
    clear.encrypted = false;
    clear.recipients.clear();
    let html = receipt_html(&clear);
    assert!(html.contains("tidak terenkripsi"));
    assert!(html.contains("TIDAK terenkripsi"));
    let en = receipt_html(&receipt(Language::En));
    assert!(en.contains("Handed over by") && en.contains("Thursday, 26-11-2026 10:00 WIB"));
}

#[test]
fn receipt_escapes_a_hostile_label_and_sanitises_its_file_name() {
    let mut r = receipt(Language::Id);
    r.disk_label = "<script>alert(1)</script>/../../x".into();
    let html = receipt_html(&r);
    assert!(!html.contains("<script"));
    markup_is_ours(&html);
    assert_eq!(
        receipt_file_name(&r),
        "tanda-terima-20261126-100005-script-alert-1-script-x.html"
    );
    assert_eq!(file_label("   "), "disk");
    assert_eq!(file_label("SIMBAK 01 (Lemari A)"), "SIMBAK-01-Lemari-A");
    assert_eq!(file_label(&"x".repeat(100)).len(), 40);
}

#[test]
fn receipt_from_a_copy_on_disk_and_written_twice() {
    use crate::backup::layout::sidecar_text;
    use crate::backup::writer::write_atomically;
    use crate::safe_fs::Dir;
    let d = tempfile::tempdir().expect("tempdir");
    let cfg = config(d.path(), "id");
    let root = d.path().join("flash");
    std::fs::create_dir_all(&root).expect("mkdir");
    let top = Dir::open(&root).expect("open");
    crate::disks::marker::write(
        &top,
        &crate::disks::marker::Marker {
            id: "disk-42".into(),
            role: crate::config::Role::Manual,
            label: "SIMBAK 02".into(),
            enrolled_at: "2026-11-01T08:00:00+07:00".into(),
        },
    )
    .expect("marker");
    let dir = top
        .create_dirs(["SIMDONDAR-BACKUP", "pmi", "2026", "11", "26"])
        .expect("dirs");
    let base = "pmi_20261126-100005.sql.zst";
    let parts = [format!("{base}.part000"), format!("{base}.part001")];
    write_atomically(&dir, &parts[0], b"first part").expect("p0");
    write_atomically(&dir, &parts[1], b"second").expect("p1");
    let lines = vec![
        ("11".repeat(32), parts[0].clone()),
        ("22".repeat(32), parts[1].clone()),
    ];
    write_atomically(
        &dir,
        &format!("{base}.sha256"),
        sidecar_text(&lines).as_bytes(),
    )
    .expect("sidecar");
    let mut m = manifest(base, false, &[parts[0].as_str(), parts[1].as_str()]);
    m.bytes_stored = 16;
    write_atomically(&dir, &format!("{base}.json"), &m.to_json()).expect("manifest");

    let r = ReceiptData::from_copy(
        &root,
        &format!("SIMDONDAR-BACKUP/pmi/2026/11/26/{base}"),
        None,
        &cfg,
    )
    .expect("from copy");
    assert_eq!(r.disk_label, "SIMBAK 02");
    assert_eq!(r.disk_id.as_deref(), Some("disk-42"));
    assert_eq!(r.disk_role, "manual");
    assert_eq!(r.folder, "SIMDONDAR-BACKUP/pmi/2026/11/26");
    assert_eq!(
        r.files,
        vec![
            ReceiptFile {
                name: parts[0].clone(),
                bytes: 10,
                sha256: "11".repeat(32)
            },
            ReceiptFile {
                name: parts[1].clone(),
                bytes: 6,
                sha256: "22".repeat(32)
            },
        ]
    );
    let html = receipt_html(&r);
    assert!(html.contains("SHA-256 seluruh data"));

    let kept = write_receipt(&cfg.state_dir, Some(&root), &r).expect("write");
    assert_eq!(
        kept,
        cfg.state_dir
            .join("receipts/tanda-terima-20261126-100005-SIMBAK-02.html")
    );
    let on_disk = root.join("SIMDONDAR-BACKUP/tanda-terima-20261126-100005-SIMBAK-02.html");
    assert_eq!(
        std::fs::read(&kept).expect("kept"),
        std::fs::read(&on_disk).expect("on disk")
    );

    // Paths that leave the disk are refused.
    assert!(ReceiptData::from_copy(&root, "SIMDONDAR-BACKUP/../x", None, &cfg).is_err());

    // A disk enrolled by its label has no marker: the receipt names it by the label udev reports
    // (not the mount point's UUID name) and gives its UUID as the id; it carries the audit anchor.
    std::fs::remove_file(root.join("SIMDONDAR-BACKUP/disk.toml")).expect("no marker");
    let name = crate::backup::writer::DiskName {
        label: "SIMBAK-03".into(),
        uuid: Some("1234-ABCD".into()),
    };
    let mut r = ReceiptData::from_copy(
        &root,
        &format!("SIMDONDAR-BACKUP/pmi/2026/11/26/{base}"),
        Some(&name),
        &cfg,
    )
    .expect("from copy");
    assert_eq!(r.disk_label, "SIMBAK-03");
    assert_eq!(r.disk_id.as_deref(), Some("UUID 1234-ABCD"));
    r.audit_anchor = Some(crate::audit_anchor::Anchor {
        chain: "ab".repeat(32),
        unit: "vm".into(),
        id: 1234,
        at: "2026-11-26T03:00:06Z".into(),
        hash: format!("3fa2{}9c01", "0".repeat(56)),
    });
    let html = receipt_html(&r);
    assert!(html.contains("SIMBAK-03"), "the label is on the receipt");
    assert!(
        html.contains("jejak audit saat ditulis: entri #1234 \u{b7} 3fa20000\u{2026}9c01"),
        "the anchor is on the receipt"
    );
}

/// One successful scheduled run of `pmi` onto `/srv/hdd` starting at `started_at` (RFC 3339).
fn one_run(cat: &crate::catalog::Catalog, started_at: &str) {
    let unix = chrono::DateTime::parse_from_rfc3339(started_at)
        .expect("time")
        .timestamp();
    use crate::catalog::{CopyRow, NewRun, RunEnd};
    let id = cat
        .begin_run(&NewRun {
            source: "pmi",
            kind: "command",
            trigger: "schedule",
            started_at,
            started_unix: unix,
        })
        .expect("begin");
    cat.record_copy(&CopyRow {
        run_id: id,
        target: "/srv/hdd".into(),
        path: Some("SIMDONDAR-BACKUP/pmi/x".into()),
        role: Some("auto".into()),
        ok: true,
        reason: None,
        failure: None,
        bytes: Some(10),
        recorded_at: started_at.into(),
    })
    .expect("copy");
    cat.finish_run(
        id,
        &RunEnd {
            ok: true,
            finished_at: started_at.into(),
            ..RunEnd::default()
        },
    )
    .expect("finish");
}

#[test]
fn month_reports_on_a_disk_close_once_and_never_change() {
    use super::monthly::{listed, write_month_reports_at, MONTHS_FILE};
    let d = tempfile::tempdir().expect("tempdir");
    let cfg = config(d.path(), "id");
    let cat = crate::catalog::Catalog::open(&cfg.state_dir).expect("catalog");
    let root = d.path().join("hdd");
    std::fs::create_dir(&root).expect("mkdir");
    let laporan = root.join("SIMDONDAR-BACKUP/LAPORAN");
    let write_at = |now: &str| {
        let now = chrono::DateTime::parse_from_rfc3339(now)
            .expect("time")
            .with_timezone(&Utc);
        write_month_reports_at(&root, &cat, &cfg, now, &Default::default())
    };
    one_run(&cat, "2026-11-28T10:00:00+07:00");

    // On the 29th, November is the running month.
    let w = write_at("2026-11-29T10:00:00+07:00").expect("write");
    assert_eq!(w.running.as_deref(), Some("2026-11"));
    assert!(w.closed.is_empty());
    let running_nov = std::fs::read_to_string(laporan.join("2026-11.html")).expect("html");
    assert!(running_nov.contains("belum"), "days to come are 'not yet'");
    assert!(laporan.join("2026-11.csv").exists());
    assert_eq!(listed(&root), vec![("2026-11".to_string(), false)]);

    // The first run in December closes November (in its final form) and starts December.
    one_run(&cat, "2026-11-30T23:00:00+07:00");
    let w = write_at("2026-12-01T00:02:00+07:00").expect("write");
    assert_eq!(w.running.as_deref(), Some("2026-12"));
    assert_eq!(w.closed, vec!["2026-11".to_string()]);
    let closed_nov = std::fs::read(laporan.join("2026-11.html")).expect("html");
    let closed_csv = std::fs::read(laporan.join("2026-11.csv")).expect("csv");
    assert_ne!(
        closed_nov,
        running_nov.as_bytes(),
        "closed in its final form"
    );
    let months: serde_json::Value =
        serde_json::from_slice(&std::fs::read(laporan.join(MONTHS_FILE)).expect("months"))
            .expect("JSON");
    assert_eq!(
        months["closed"]["2026-11"]["html_sha256"],
        crate::util::hex(&<sha2::Sha256 as sha2::Digest>::digest(&closed_nov))
    );
    let running_dec = std::fs::read(laporan.join("2026-12.html")).expect("html");

    // Later: a late record dated November, and December's own runs. November never changes;
    // December is rewritten.
    one_run(&cat, "2026-11-30T23:30:00+07:00");
    one_run(&cat, "2026-12-03T10:00:00+07:00");
    let w = write_at("2026-12-05T10:00:00+07:00").expect("write");
    assert!(w.closed.is_empty(), "{w:?}");
    assert_eq!(
        std::fs::read(laporan.join("2026-11.html")).expect("html"),
        closed_nov,
        "a closed month is never rewritten"
    );
    assert_eq!(
        std::fs::read(laporan.join("2026-11.csv")).expect("csv"),
        closed_csv
    );
    assert_ne!(
        std::fs::read(laporan.join("2026-12.html")).expect("html"),
        running_dec,
        "the running month is updated"
    );
    assert_eq!(
        listed(&root),
        vec![
            ("2026-12".to_string(), false),
            ("2026-11".to_string(), true)
        ]
    );

    // The clock goes back into November (no clock battery, before NTP answers): the closed month
    // is not rewritten as a running one.
    let w = write_at("2026-11-30T08:00:00+07:00").expect("write");
    assert_eq!(w.running, None, "{w:?}");
    assert_eq!(
        std::fs::read(laporan.join("2026-11.html")).expect("html"),
        closed_nov
    );
    // months.json damaged: the closed files on the disk are kept as they are.
    std::fs::write(laporan.join(MONTHS_FILE), b"{ broken").expect("damage");
    let w = write_at("2026-12-06T10:00:00+07:00").expect("write");
    assert_eq!(w.closed, vec!["2026-11".to_string()], "recorded as found");
    assert_eq!(
        std::fs::read(laporan.join("2026-11.html")).expect("html"),
        closed_nov
    );

    // The disk's index links both.
    crate::report::write_disk_index(&root, &cfg).expect("index");
    let index = std::fs::read_to_string(root.join("SIMDONDAR-BACKUP/INDEX.html")).expect("index");
    assert!(index.contains("href=\"LAPORAN/2026-11.html\""), "linked");
    assert!(index.contains("bulan ditutup, tidak berubah lagi"));
    assert!(index.contains("href=\"LAPORAN/2026-12.csv\""));

    // The pages need nothing from outside (they open from a flashdisk with no network).
    for page in [closed_nov.as_slice(), running_dec.as_slice()] {
        let text = String::from_utf8_lossy(page);
        for banned in [
            "<script",
            "src=\"http",
            "href=\"http",
            "@import",
            "url(http",
        ] {
            assert!(!text.contains(banned), "{banned}");
        }
    }
}
