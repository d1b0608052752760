//! The SOP report, the disk index and the handover receipt from a real catalog, rendered by
//! headless Chromium to PNG (issue 7: "look at them: they will be printed and signed").
//!
//! Today's backups are real: the CLI backs up a `command` source onto a directory "HDD" (role
//! auto) and two "flashdisks" (role manual, age-encrypted with a fresh key), one of them carrying
//! a hostile label. The four weeks before are written through the catalog API, as the daemon
//! would have recorded them: hourly backups, a day with no backup at all (the HDD unplugged), a
//! day the program files failed, a full disk for three hours, weekly re-verification and restore
//! tests, and manual copies with one eight-day gap.
//!
//! The rendered pages are kept in `target/tmp/report-shots/`; `UPDATE_REPORT_SHOTS=1 cargo test
//! --test e2e report::` also copies the PNGs to `tests/report_shots/` (commit them).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{Days, NaiveDate, TimeZone, Utc};
use chrono_tz::Asia::Jakarta;
use simdondar_backup::catalog::{Catalog, CopyRow, NewRun, RestoreTestRow, RunEnd};
use simdondar_backup::config::{Config, Language, Role};
use simdondar_backup::disks::marker::{self, Marker};
use simdondar_backup::report::{self, DayGap, DayState, ReceiptData};
use simdondar_backup::safe_fs::Dir;

use crate::support::agent::{require_tool, show, Setup};

/// A disk label that tries to inject markup into every page it appears on.
const HOSTILE_LABEL: &str = "<script>alert(1)</script>";

/// How long one Chromium rendering may take.
const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(120);

/// The Chromium binary, or a failure that says how to install it.
fn chromium() -> PathBuf {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if let Some(p) = std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        }) {
            return p;
        }
    }
    panic!("chromium is needed to render the reports: install it with apt-get install chromium");
}

/// Renders `html` with headless Chromium into `png` at A4 width (1240 px = 150 dpi); the window
/// is `pages` A4 pages tall. Bounded by [`CHROMIUM_TIMEOUT`]; the whole process group is killed
/// on timeout.
fn render(html: &Path, png: &Path, pages: u32) {
    use std::os::unix::process::CommandExt;
    let profile = tempfile::tempdir().expect("tempdir");
    let _ = std::fs::remove_file(png);
    // 794 x 1123 CSS pixels is an A4 page at 96 dpi; the scale factor makes it 1240 x 1754.
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--force-device-scale-factor=1.5617",
        ])
        .arg(format!("--window-size=794,{}", 1123 * pages))
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", html.display()))
        .env("HOME", profile.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("start chromium");
    let deadline = Instant::now() + CHROMIUM_TIMEOUT;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for chromium") {
            break s;
        }
        if Instant::now() > deadline {
            // SAFETY-free: a plain kill of the process group we created.
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            let _ = child.wait();
            panic!(
                "chromium did not render {} within {CHROMIUM_TIMEOUT:?}",
                html.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    assert!(
        status.success() && png.is_file(),
        "chromium failed to render {}: {status}\n{err}",
        html.display()
    );
}

/// Checks that a PNG is an A4-wide page with real content: not blank, with dark text.
fn assert_page_png(png: &Path, pages: u32) {
    let file = std::fs::File::open(png).expect("open png");
    let decoder = png::Decoder::new(file);
    let mut reader = decoder.read_info().expect("png header");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("png data");
    assert_eq!(info.width, 1240, "{}", png.display());
    assert!(
        info.height.abs_diff(1754 * pages) <= 2,
        "{}: {} px high for {pages} page(s)",
        png.display(),
        info.height
    );
    let channels = info.line_size / info.width as usize;
    let pixels = (info.width * info.height) as usize;
    let dark = buf[..info.buffer_size()]
        .chunks(channels)
        .filter(|p| p.iter().take(3).all(|&c| c < 96))
        .count();
    let white = buf[..info.buffer_size()]
        .chunks(channels)
        .filter(|p| p.iter().take(3).all(|&c| c > 240))
        .count();
    assert!(
        dark * 100 > pixels,
        "{}: only {dark} dark pixels of {pixels}: the page looks empty",
        png.display()
    );
    assert!(
        white * 2 > pixels,
        "{}: the page is not mostly white paper",
        png.display()
    );
    assert!(
        std::fs::metadata(png).expect("stat").len() > 50_000,
        "{}: suspiciously small",
        png.display()
    );
}

fn enroll(root: &Path, label: &str, role: Role) {
    let dir = Dir::open(root).expect("open target");
    marker::write(
        &dir,
        &Marker {
            id: format!("{}-{}", role.as_str(), label.len()),
            role,
            label: label.into(),
            enrolled_at: "2026-01-05T09:00:00+07:00".into(),
        },
    )
    .expect("write marker");
}

struct History<'a> {
    cat: &'a Catalog,
}

impl History<'_> {
    /// Records a run on `day` at `hh:mm` (Jakarta) with copies `(target, role, Err(reason))`.
    fn run(
        &self,
        day: NaiveDate,
        hm: (u32, u32),
        source: &str,
        trigger: &str,
        copies: &[(&Path, &str, Result<u64, &str>)],
    ) {
        let start = Jakarta
            .from_local_datetime(&day.and_hms_opt(hm.0, hm.1, 0).expect("time"))
            .single()
            .expect("local time");
        let stamp = start.to_rfc3339();
        let id = self
            .cat
            .begin_run(&NewRun {
                source,
                kind: "mysql",
                trigger,
                started_at: &stamp,
                started_unix: start.timestamp(),
            })
            .expect("begin run");
        for (target, role, result) in copies {
            self.cat
                .record_copy(&CopyRow {
                    run_id: id,
                    target: target.display().to_string(),
                    path: Some(format!(
                        "SIMDONDAR-BACKUP/{source}/{}/{source}_{}.sql.zst",
                        start.format("%Y/%m/%d"),
                        start.format("%Y%m%d-%H%M%S")
                    )),
                    role: Some((*role).into()),
                    ok: result.is_ok(),
                    reason: result.err().map(str::to_string),
                    failure: None,
                    bytes: result.ok(),
                    recorded_at: stamp.clone(),
                })
                .expect("record copy");
        }
        let ok_count = copies.iter().filter(|c| c.2.is_ok()).count() as u32;
        let ok = ok_count == copies.len() as u32 && !copies.is_empty();
        let reason = copies
            .iter()
            .find_map(|c| c.2.err())
            .map(|r| format!("{ok_count} of {} copies written: {r}", copies.len()));
        self.cat
            .finish_run(
                id,
                &RunEnd {
                    ok,
                    finished_at: stamp.clone(),
                    reason,
                    failure: None,
                    bytes_raw: Some(412_000_000),
                    bytes_stored: Some(61_400_000),
                    sha256: None,
                    copies_ok: ok_count,
                    copies_total: copies.len() as u32,
                    warnings: vec![],
                },
            )
            .expect("finish run");
    }
}

#[test]
fn sop_report_index_and_receipt_from_a_real_catalog_render_in_chromium() {
    let chromium_path = chromium();
    let keygen = require_tool("age-keygen", "age");
    let setup = Setup::with_sources("", "");
    let hdd = setup.target("hdd-utama");
    let flash = setup.target("simbak-01");
    let flash2 = setup.target("simbak-02");
    let evil = setup.target("flash-lain");

    // An age key, as IT Support would make with `keygen`: only its public half on the appliance.
    let key = setup.dir.path().join("kunci-age.txt");
    let out = Command::new(&keygen)
        .arg("-o")
        .arg(&key)
        .output()
        .expect("age-keygen");
    assert!(out.status.success(), "{}", show(&out));
    let recipient = std::fs::read_to_string(&key)
        .expect("read key")
        .lines()
        .find_map(|l| l.strip_prefix("# public key: ").map(str::to_string))
        .expect("public key line");

    let config_text = std::fs::read_to_string(&setup.config).expect("config");
    let extra = format!(
        "language = \"id\"\n\
         [encryption]\nrecipients = [\"{recipient}\"]\n\
         [[target]]\npath = \"{}\"\nrole = \"auto\"\n\
         [[target]]\npath = \"{}\"\nrole = \"manual\"\n\
         [[target]]\npath = \"{}\"\nrole = \"manual\"\n\
         [[target]]\npath = \"{}\"\nrole = \"manual\"\n\
         [[source]]\nname = \"pmi\"\nkind = \"command\"\nextension = \"sql\"\ninterval = \"1h\"\n\
         command = [\"printf\", \"-- MariaDB dump 10.19\\nINSERT INTO donor VALUES (1,'Siti Rahayu','A+');\\n-- Dump completed\\n\"]\n\
         [[source]]\nname = \"program\"\nkind = \"command\"\nextension = \"tar\"\ninterval = \"1d\"\n\
         command = [\"sh\", \"-c\", \"echo 'tar: /var/www/simudda/upload: Permission denied' >&2; exit 2\"]\n",
        hdd.display(),
        flash.display(),
        flash2.display(),
        evil.display()
    );
    // The setting holds only top-level keys so far: `language` and the tables follow them.
    std::fs::write(&setup.config, format!("{config_text}{extra}")).expect("write config");
    enroll(&hdd, "HDD-UTAMA", Role::Auto);
    enroll(&flash, "SIMBAK-01", Role::Manual);
    enroll(&flash2, "SIMBAK-02", Role::Manual);
    enroll(&evil, HOSTILE_LABEL, Role::Manual);
    let cfg = Config::load(&setup.config).expect("config loads");
    assert_eq!(cfg.language, Language::Id);

    // Four weeks of history before today, as the daemon records it.
    let today = Utc::now().with_timezone(&Jakarta).date_naive();
    let from = today.checked_sub_days(Days::new(27)).expect("from");
    let day = |i: u64| from.checked_add_days(Days::new(i)).expect("day");
    {
        let cat = Catalog::open(&cfg.state_dir).expect("catalog");
        let h = History { cat: &cat };
        let ok = Ok(61_400_000);
        // The manual copy before the period: two days before it starts.
        h.run(
            from.checked_sub_days(Days::new(2)).expect("before"),
            (10, 0),
            "pmi",
            "button",
            &[(&hdd, "auto", ok), (&flash2, "manual", ok)],
        );
        for i in 0..27 {
            let d = day(i);
            if i == 9 {
                continue; // the HDD was unplugged all day: the daemon could not run a backup
            }
            for hour in 0..24 {
                let result = if i == 16 && (8..11).contains(&hour) {
                    Err("/srv/hdd: no space left on device (os error 28); the copy was not kept")
                } else if i == 20 && hour == 13 {
                    Err("/run/simdondar-backup/disks/<img src=x onerror=alert(1)>: read-only file system")
                } else {
                    ok
                };
                h.run(d, (hour, 2), "pmi", "schedule", &[(&hdd, "auto", result)]);
            }
            let program = if i == 12 {
                Err("ssh: connect to host 10.0.0.5 port 22: Connection timed out")
            } else {
                Ok(2_150_000_000)
            };
            h.run(
                d,
                (2, 30),
                "program",
                "schedule",
                &[(&hdd, "auto", program)],
            );
            if [0, 3, 6, 14, 17, 20, 23, 25].contains(&i) {
                let disk: &Path = if i % 2 == 0 { &flash } else { &flash2 };
                h.run(
                    d,
                    if i == 25 { (9, 0) } else { (10, 0) },
                    "pmi",
                    "button",
                    &[(&hdd, "auto", ok), (disk, "manual", ok)],
                );
            }
            if [7, 14, 21].contains(&i) {
                for n in 0..6 {
                    let problem = (i == 21 && n == 0).then_some(
                        "checksum mismatch: the manifest says 3f1a…, the device gave 9c0e…; renamed with the suffix .corrupt",
                    );
                    cat.record_verification(
                        &hdd.display().to_string(),
                        &format!(
                            "{}/SIMDONDAR-BACKUP/pmi/{}/pmi_{}-{:02}0200.sql.zst",
                            hdd.display(),
                            d.format("%Y/%m/%d"),
                            d.format("%Y%m%d"),
                            n
                        ),
                        problem.is_none(),
                        problem,
                        &Jakarta
                            .from_local_datetime(&d.and_hms_opt(3, 15, n).expect("t"))
                            .single()
                            .expect("t")
                            .to_rfc3339(),
                    )
                    .expect("verification");
                }
            }
            if [6, 13, 20].contains(&i) {
                let passed = i != 20;
                cat.record_restore_test(&RestoreTestRow {
                    tested_at: Jakarta
                        .from_local_datetime(&d.and_hms_opt(4, 0, 0).expect("t"))
                        .single()
                        .expect("t")
                        .to_rfc3339(),
                    source: "pmi".into(),
                    backup: format!(
                        "SIMDONDAR-BACKUP/pmi/{}/pmi_{}-030200.sql.zst",
                        d.format("%Y/%m/%d"),
                        d.format("%Y%m%d")
                    ),
                    passed,
                    detail: if passed {
                        "{\"tables\": 48, \"mismatches\": 0}".into()
                    } else {
                        "pmi.donor: manifest 48211 rows, restored 47998 rows".into()
                    },
                })
                .expect("restore test");
            }
        }
    }

    // Today: real manual backups through the CLI, and a source that really fails.
    let out = setup
        .cmd()
        .args(["backup", "--source", "pmi"])
        .arg("--target")
        .arg(&hdd)
        .arg("--target")
        .arg(&flash)
        .output()
        .expect("backup");
    assert!(out.status.success(), "{}", show(&out));
    let out = setup
        .cmd()
        .args(["backup", "--source", "pmi", "--target"])
        .arg(&evil)
        .output()
        .expect("backup");
    assert!(out.status.success(), "{}", show(&out));
    let out = setup
        .cmd()
        .args(["backup", "--source", "program", "--target"])
        .arg(&hdd)
        .output()
        .expect("backup");
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));

    // ---- the SOP report ----
    let cat = Catalog::open(&cfg.state_dir).expect("catalog");
    let rep = report::sop_report(&cat, &cfg, from, today).expect("report");
    assert_eq!(rep.days.len(), 28);
    assert_eq!(rep.days[0].automatic.ok, 25);
    assert_eq!(rep.days[0].manual.ok, 1);
    assert_eq!(rep.days[16].automatic.failed, 3);
    assert_eq!(rep.days[21].verifications.failed, 1);
    assert_eq!(rep.days[21].verifications.ok, 5);
    assert_eq!(rep.days[20].restore_tests.failed, 1);
    assert_eq!(rep.days[13].restore_tests.ok, 1);
    // Today: two real manual backups (one encrypted onto the hostile disk) and one failure.
    let t = &rep.days[27];
    assert_eq!(t.state, DayState::Today);
    assert_eq!((t.manual.ok, t.manual.failed), (2, 0), "{t:?}");
    assert_eq!((t.other.ok, t.other.failed), (0, 1), "{t:?}");
    // Gaps, each named.
    assert_eq!(rep.days[9].gaps[0], DayGap::NoVerifiedBackup);
    assert_eq!(
        rep.days[12].gaps[0],
        DayGap::SourcesNotVerified(vec!["program".into()])
    );
    assert!(rep.days[16].gaps.is_empty(), "{:?}", rep.days[16].gaps);
    assert_eq!(rep.manual_gaps.len(), 1, "{:?}", rep.manual_gaps);
    let g = &rep.manual_gaps[0];
    assert_eq!(g.from.date_naive(), day(6));
    assert_eq!(g.until.date_naive(), day(14));
    let overdue: Vec<usize> = rep
        .days
        .iter()
        .enumerate()
        .filter(|(_, d)| {
            d.gaps
                .iter()
                .any(|g| matches!(g, DayGap::ManualOverdue { .. }))
        })
        .map(|(i, _)| i)
        .collect();
    assert_eq!(overdue, (9..=14).collect::<Vec<_>>());
    assert_eq!(rep.gap_count(), 3);
    let names: Vec<&str> = rep.targets.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names[0], "HDD-UTAMA");
    assert!(names.contains(&HOSTILE_LABEL), "{names:?}");

    let csv = rep.to_csv();
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 29, "a header and one row per day");
    assert!(lines[0].starts_with("Tanggal,Otomatis berhasil,Otomatis gagal,"));
    assert!(lines[1].starts_with(&format!("{},25,0,1,0,", from.format("%Y-%m-%d"))));
    assert!(
        lines[10].ends_with(&format!(
            ",tidak,Tidak ada backup terverifikasi; Backup manual terlambat (terakhir {})",
            day(6).format("%d-%m-%Y")
        )),
        "{}",
        lines[10]
    );
    assert!(csv.is_char_boundary(csv.len()) && std::str::from_utf8(csv.as_bytes()).is_ok());

    let html = rep.to_html();
    assert!(
        !html.contains("<script") && !html.contains("<img"),
        "markup injected"
    );
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("UTDP-SIM-L2-003"));
    assert!(html.contains("Diperiksa oleh"));
    assert!(html.contains("tidak ada backup terverifikasi untuk sumber program"));
    assert!(html.contains("Jarak antar-backup manual 8 hari ("));

    // ---- the disk index ----
    for root in [&hdd, &flash, &evil] {
        report::write_disk_index(root, &cfg).expect("index");
    }
    let index_csv =
        std::fs::read_to_string(flash.join("SIMDONDAR-BACKUP/INDEX.csv")).expect("index csv");
    let rows: Vec<&str> = index_csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(rows.len(), 2, "{index_csv}");
    assert!(rows[1].contains(",pmi,command,"), "{}", rows[1]);
    assert!(rows[1].contains(".sql.zst.age"), "{}", rows[1]);
    assert!(rows[1].contains(",ya,manual,perintah,"), "{}", rows[1]);
    let index_html =
        std::fs::read_to_string(flash.join("SIMDONDAR-BACKUP/INDEX.html")).expect("index html");
    assert!(index_html.contains("age -d -i kunci-age.txt"));
    // The printed restore commands work as printed (continuation lines and all): run from the
    // disk's top folder with the database client swapped for `cat` and the key's real path.
    let dump = "-- MariaDB dump 10.19\nINSERT INTO donor VALUES (1,'Siti Rahayu','A+');\n-- Dump completed\n";
    for root in [&hdd, &flash] {
        let entries = simdondar_backup::backup::inventory::scan(root).expect("scan");
        let idx = report::DiskIndex::build(&entries, None, Language::Id, Jakarta, Utc::now());
        let row = idx
            .rows
            .iter()
            .find(|r| r.source == "pmi")
            .expect("a pmi backup");
        let t = report::texts::texts(Language::Id);
        let (with_tool, without) = row.restore_commands(t);
        for (what, cmd) in [("with", with_tool), ("without", without)] {
            assert!(
                root != &flash || index_html.contains(&report::html::esc(&cmd)),
                "the index prints {cmd}"
            );
            let cmd = cmd
                .replace("mariadb --max-allowed-packet=1G", "cat")
                .replace("kunci-age.txt", &key.display().to_string())
                .replace(
                    "simdondar-backup restore",
                    &format!("{} restore", crate::support::agent::bin()),
                );
            let out = Command::new("sh")
                .arg("-c")
                .arg(&cmd)
                .current_dir(root)
                .output()
                .expect("sh");
            assert!(
                out.status.success(),
                "{what} ({}): {cmd}\n{}",
                root.display(),
                show(&out)
            );
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.ends_with(dump), "{what}: {cmd}\n{text}");
        }
    }
    let evil_index =
        std::fs::read_to_string(evil.join("SIMDONDAR-BACKUP/INDEX.html")).expect("evil index");
    assert!(!evil_index.contains("<script"));
    assert!(evil_index.contains("&lt;script&gt;"));

    // ---- the receipt of today's manual copy on SIMBAK-01 ----
    let data = simdondar_backup_files(&flash)
        .into_iter()
        .find(|p| p.to_string_lossy().ends_with(".sql.zst.age"))
        .expect("the encrypted copy on SIMBAK-01");
    let relative = data
        .strip_prefix(&flash)
        .expect("below the disk")
        .to_string_lossy()
        .into_owned();
    let receipt = ReceiptData::from_copy(&flash, &relative, None, &cfg).expect("receipt data");
    assert_eq!(receipt.disk_label, "SIMBAK-01");
    assert_eq!(receipt.recipients, vec![recipient.clone()]);
    let kept = report::write_receipt(&cfg.state_dir, Some(&flash), &receipt).expect("receipt");
    let receipt_page = std::fs::read_to_string(&kept).expect("receipt page");
    let sum = Command::new("sha256sum")
        .arg(&data)
        .output()
        .expect("sha256sum");
    let sum = String::from_utf8_lossy(&sum.stdout);
    let sum = sum.split_whitespace().next().expect("hash");
    assert_eq!(receipt.files.len(), 1);
    assert_eq!(
        receipt.files[0].sha256, sum,
        "the receipt names the file's SHA-256"
    );
    assert_eq!(
        receipt.files[0].bytes,
        std::fs::metadata(&data).expect("stat").len()
    );
    // Printed as two lines of 32 hex digits.
    assert!(receipt_page.contains(&format!("{}<br>{}", &sum[..32], &sum[32..])));
    assert!(receipt_page.contains(&recipient));
    assert!(receipt_page.contains("Yang menyerahkan") && receipt_page.contains("Yang menerima"));
    let name = kept
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    assert!(
        name.starts_with("tanda-terima-") && name.ends_with("-SIMBAK-01.html"),
        "{name}"
    );
    assert!(flash.join("SIMDONDAR-BACKUP").join(&name).is_file());
    // The hostile disk's receipt: escaped, and a clean file name.
    let evil_data = simdondar_backup_files(&evil)
        .into_iter()
        .find(|p| p.to_string_lossy().ends_with(".sql.zst.age"))
        .expect("copy on the hostile disk");
    let evil_rel = evil_data
        .strip_prefix(&evil)
        .expect("below")
        .to_string_lossy()
        .into_owned();
    let evil_receipt = ReceiptData::from_copy(&evil, &evil_rel, None, &cfg).expect("receipt");
    let evil_kept =
        report::write_receipt(&cfg.state_dir, Some(&evil), &evil_receipt).expect("receipt");
    assert!(evil_kept
        .to_string_lossy()
        .ends_with("-script-alert-1-script.html"));
    let evil_page = std::fs::read_to_string(&evil_kept).expect("page");
    assert!(!evil_page.contains("<script"));

    // ---- rendered by Chromium, as they will be printed ----
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-shots");
    std::fs::create_dir_all(&shots).expect("shots dir");
    let mut en_cfg = cfg.clone();
    en_cfg.language = Language::En;
    let rep_en = report::sop_report(&cat, &en_cfg, from, today).expect("report en");
    let mut receipt_en = receipt.clone();
    receipt_en.language = Language::En;
    // The running month's report, as the backups left it on the HDD (issue 18), linked from the
    // disk's index.
    let month = Utc::now()
        .with_timezone(&Jakarta)
        .format("%Y-%m")
        .to_string();
    let month_html = std::fs::read_to_string(
        hdd.join("SIMDONDAR-BACKUP/LAPORAN")
            .join(format!("{month}.html")),
    )
    .expect("the running month's report on the HDD");
    assert!(month_html.contains("Laporan Backup Data SIMDONDAR"));
    assert!(hdd
        .join("SIMDONDAR-BACKUP/LAPORAN")
        .join(format!("{month}.csv"))
        .is_file());
    let hdd_index =
        std::fs::read_to_string(hdd.join("SIMDONDAR-BACKUP/INDEX.html")).expect("hdd index");
    assert!(
        hdd_index.contains(&format!("href=\"LAPORAN/{month}.html\"")),
        "the index links the month's report"
    );
    let pages: Vec<(&str, String, u32)> = vec![
        ("month-id", month_html, 2),
        ("report-id", html.clone(), 2),
        ("report-en", rep_en.to_html(), 2),
        ("receipt-id", receipt_page.clone(), 1),
        ("receipt-en", report::receipt_html(&receipt_en), 1),
        ("index-id", index_html.clone(), 1),
    ];
    eprintln!("rendering with {}", chromium_path.display());
    for (name, page, n) in &pages {
        let html_path = shots.join(format!("{name}.html"));
        std::fs::write(&html_path, page).expect("write html");
        let png = shots.join(format!("{name}.png"));
        render(&html_path, &png, *n);
        assert_page_png(&png, *n);
    }
    std::fs::write(shots.join("report-id.csv"), &csv).expect("csv");
    if std::env::var("UPDATE_REPORT_SHOTS").is_ok_and(|v| v == "1") {
        let dest = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/report_shots");
        std::fs::create_dir_all(&dest).expect("tests/report_shots");
        for (name, _, _) in &pages {
            std::fs::copy(
                shots.join(format!("{name}.png")),
                dest.join(format!("{name}.png")),
            )
            .expect("copy shot");
        }
    }
}

/// Every file below `root/SIMDONDAR-BACKUP`.
fn simdondar_backup_files(root: &Path) -> Vec<PathBuf> {
    crate::support::agent::files_under(&root.join("SIMDONDAR-BACKUP"))
}
