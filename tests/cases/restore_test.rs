//! Row counts and the restore test (issue 7), against real MariaDB servers: the counts the backup
//! records equal `SELECT COUNT(*)`; a good backup passes the restore test; a copy truncated with
//! forged checksums, a damaged copy and a dump that does not load fail it, naming what is wrong.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};
use simdondar_backup::backup::restore_test::{newest_backups, restore_test, RestoreTestReport};
use simdondar_backup::backup::rowcount::RowCounter;
use simdondar_backup::catalog::Catalog;

use crate::support::agent::{data_files, require_tool, show, Setup, PASSWORD};
use crate::support::mariadb::MariaDb;

const SCHEMAS: [&str; 3] = ["pmi", "sms", "wagw"];

/// `db.table` → `COUNT(*)` for the test databases.
fn counts_of(db: &MariaDb) -> BTreeMap<String, u64> {
    let mut all = BTreeMap::new();
    for s in SCHEMAS {
        for (t, n) in db.row_counts(s) {
            all.insert(format!("{s}.{t}"), n);
        }
    }
    all
}

/// A seeded server and one backup of it taken by the agent: (server, setting, target, data file).
fn seeded_backup(scale_mb: u64) -> (MariaDb, Setup, PathBuf, PathBuf) {
    let db = MariaDb::start();
    db.seed(scale_mb);
    db.create_backup_user("backup", PASSWORD);
    let setup = Setup::for_db(&db, PASSWORD);
    let target = setup.target("usb1");
    let out = setup.backup(&[&target]);
    assert!(out.status.success(), "backup failed: {}", show(&out));
    let files = data_files(&target);
    assert_eq!(files.len(), 1, "one data file expected: {files:?}");
    let data = files[0].clone();
    (db, setup, target, data)
}

fn manifest_path(data: &Path) -> PathBuf {
    let mut p = data.as_os_str().to_owned();
    p.push(".json");
    PathBuf::from(p)
}

fn manifest_of(data: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(manifest_path(data)).expect("read manifest"))
        .expect("manifest is JSON")
}

fn tables_of(manifest: &serde_json::Value) -> BTreeMap<String, u64> {
    serde_json::from_value(manifest["tables"].clone()).expect("tables is an object of counts")
}

pub(super) fn count(dump: &[u8], chunk: usize) -> BTreeMap<String, u64> {
    let mut c = RowCounter::new();
    for block in dump.chunks(chunk) {
        c.feed(block);
    }
    c.finish()
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Rewrites a backup's data file with `dump`, recompressed, and forges its `.sha256` and its
/// manifest (`sha256`, `bytes_raw`, `bytes_stored`) to match, keeping every other field.
fn forge(data: &Path, dump: &[u8]) {
    let stored = zstd::stream::encode_all(dump, 3).expect("zstd");
    std::fs::write(data, &stored).expect("write data");
    let hash = hex_sha256(&stored);
    let name = data
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let mut sidecar = data.as_os_str().to_owned();
    sidecar.push(".sha256");
    std::fs::write(&sidecar, format!("{hash}  {name}\n")).expect("write sidecar");
    let mut m = manifest_of(data);
    m["sha256"] = hash.into();
    m["bytes_raw"] = (dump.len() as u64).into();
    m["bytes_stored"] = (stored.len() as u64).into();
    std::fs::write(
        manifest_path(data),
        serde_json::to_vec_pretty(&m).expect("JSON"),
    )
    .expect("write manifest");
}

/// Writes a backup by hand, as docs/on-disk-format.md describes: the zstd data, the sidecar and
/// a manifest with `tables`. Returns the data file.
pub(super) fn hand_made_backup(
    root: &Path,
    dump: &[u8],
    tables: &BTreeMap<String, u64>,
) -> PathBuf {
    let dir = root.join("SIMDONDAR-BACKUP/uji/2026/11/26");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let name = "uji_20261126-100000.sql.zst";
    let data = dir.join(name);
    let stored = zstd::stream::encode_all(dump, 3).expect("zstd");
    std::fs::write(&data, &stored).expect("write data");
    let hash = hex_sha256(&stored);
    std::fs::write(
        dir.join(format!("{name}.sha256")),
        format!("{hash}  {name}\n"),
    )
    .expect("sidecar");
    let m = serde_json::json!({
        "format": 1,
        "source": "uji",
        "kind": "mysql",
        "started_at": "2026-11-26T10:00:00+07:00",
        "finished_at": "2026-11-26T10:00:01+07:00",
        "databases": ["uji"],
        "compression": "zstd",
        "encrypted": false,
        "bytes_raw": dump.len(),
        "bytes_stored": stored.len(),
        "sha256": hash,
        "parts": [name],
        "tables": tables,
        "tool_version": "simdondar-backup test",
    });
    std::fs::write(
        dir.join(format!("{name}.json")),
        serde_json::to_vec_pretty(&m).expect("JSON"),
    )
    .expect("manifest");
    data
}

/// The restore test leaves neither a directory nor a running server behind.
pub(super) fn assert_nothing_left(work: &Path) {
    let left: Vec<_> = std::fs::read_dir(work)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(
        left.is_empty(),
        "left behind in the work directory: {left:?}"
    );
    let needle = work.to_string_lossy().into_owned();
    for p in std::fs::read_dir("/proc").expect("/proc").flatten() {
        if let Ok(cmdline) = std::fs::read(p.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            assert!(
                !cmdline.contains(&needle),
                "a process of the restore test still runs: {cmdline}"
            );
        }
    }
}

fn check_of<'a>(
    r: &'a RestoreTestReport,
    table: &str,
) -> &'a simdondar_backup::backup::restore_test::TableCheck {
    r.tables
        .iter()
        .find(|t| t.table == table)
        .unwrap_or_else(|| panic!("{table} missing from the report: {r:?}"))
}

#[test]
fn row_counts_in_the_manifest_match_select_count() {
    let (db, _setup, _target, data) = seeded_backup(1);

    // The data really holds what breaks naive counting, and the trigger inserts.
    let tricky = db.sql(
        "SELECT SUM(Catatan LIKE '%),(%'), SUM(INSTR(Catatan, ';') > 0), \
         SUM(INSTR(Catatan, '\\\\') > 0), SUM(INSTR(Catatan, '''') > 0), \
         SUM(INSTR(Catatan, '\\n') > 0) FROM pmi.pendonor",
    );
    for (what, n) in ["),(", ";", "backslash", "quote", "newline"]
        .iter()
        .zip(tricky.split_whitespace())
    {
        assert!(
            n.parse::<u64>().unwrap_or(0) > 0,
            "no donor note holds {what}: {tricky}"
        );
    }
    let trigger = db.sql(
        "SELECT ACTION_STATEMENT FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = 'pmi'",
    );
    assert!(trigger.contains("INSERT INTO"), "{trigger}");

    let expected = counts_of(&db);
    assert!(expected["pmi.pendonor"] > 300, "{expected:?}");
    assert_eq!(expected["pmi.tmp_import"], 0);
    let manifest = manifest_of(&data);
    assert_eq!(
        tables_of(&manifest),
        expected,
        "the manifest's tables must equal SELECT COUNT(*) (the view v_donor_aktif is not a table)"
    );

    // The counter alone, on the reference dump, in awkward chunkings.
    let dump = db.dump(&SCHEMAS);
    let text = String::from_utf8_lossy(&dump);
    assert!(text.contains("DELIMITER ;;"), "the dump has routines");
    assert!(
        text.contains("INSERT INTO `user_log` (`waktu`"),
        "the trigger body is dumped"
    );
    assert!(
        text.contains("CREATE VIEW `v_donor_aktif`"),
        "the view is dumped"
    );
    for chunk in [1, 7, 4093, usize::MAX] {
        assert_eq!(count(&dump, chunk), expected, "chunks of {chunk} bytes");
    }
}

#[test]
fn a_good_backup_passes_the_restore_test() {
    let (db, setup, target, data) = seeded_backup(1);
    let expected = counts_of(&db);
    assert_eq!(
        tables_of(&manifest_of(&data)),
        expected,
        "row counts recorded"
    );
    assert_eq!(
        newest_backups(std::slice::from_ref(&target)),
        vec![("pmi".to_string(), data.clone())]
    );

    let work = setup.dir.path().join("work");
    let r = restore_test(&data, &work).expect("the restore test runs");
    assert!(r.passed, "{}", r.summary());
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    assert_eq!(r.source, "pmi");
    assert_eq!(r.backup, data);
    assert_eq!(r.tables.len(), expected.len());
    for (table, n) in &expected {
        let c = check_of(&r, table);
        assert_eq!((c.expected, c.actual), (*n, Some(*n)), "{table}");
    }
    assert!(r.seconds > 0.0);
    assert!(r.summary().starts_with("PASS "), "{}", r.summary());
    assert_nothing_left(&work);

    // Recorded in the catalog as the integrator will.
    let row = r.to_row();
    assert!(row.passed);
    let detail: serde_json::Value = serde_json::from_str(&row.detail).expect("detail JSON");
    assert_eq!(
        detail["tables"].as_array().map(Vec::len),
        Some(expected.len())
    );
    let catalog = Catalog::open(&setup.state).expect("catalog");
    catalog.record_restore_test(&row).expect("record");
    assert_eq!(catalog.last_restore_test().expect("read"), Some(row));
}

#[test]
fn a_truncated_copy_with_forged_checksums_fails_the_restore_test() {
    let sha256sum = require_tool("sha256sum", "coreutils");
    let (db, setup, _target, data) = seeded_backup(1);
    let expected = counts_of(&db);
    let original = tables_of(&manifest_of(&data));
    assert_eq!(original, expected, "row counts recorded");

    // Cut the last INSERT of pendonor out of the dump; the trailer stays.
    let dump = zstd::stream::decode_all(&std::fs::read(&data).expect("read")[..]).expect("unzstd");
    let find_last = |needle: &[u8]| dump.windows(needle.len()).rposition(|w| w == needle);
    let start = find_last(b"INSERT INTO `pendonor` VALUES").expect("pendonor has rows");
    let end =
        find_last(b"/*!40000 ALTER TABLE `pendonor` ENABLE KEYS */").expect("end of pendonor");
    assert!(start < end);
    let forged: Vec<u8> = [&dump[..start], &dump[end..]].concat();
    assert!(
        String::from_utf8_lossy(&forged[forged.len() - 200..]).contains("-- Dump completed"),
        "the forged dump keeps its trailer"
    );
    let restored_rows = count(&forged, usize::MAX)["pmi.pendonor"];
    assert!(restored_rows < expected["pmi.pendonor"]);
    forge(&data, &forged);

    // Every checksum agrees with the forged bytes.
    let dir = data.parent().expect("dir");
    let name = data
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let check = Command::new(&sha256sum)
        .arg("-c")
        .arg(format!("{name}.sha256"))
        .current_dir(dir)
        .output()
        .expect("sha256sum");
    assert!(check.status.success(), "sha256sum -c: {}", show(&check));
    let r = setup
        .cmd()
        .arg("restore")
        .arg(&data)
        .arg("--stdout")
        .output()
        .expect("restore");
    assert!(
        r.status.success(),
        "restore accepts the forged copy: {}",
        show(&r)
    );
    assert_eq!(r.stdout, forged);

    // Only the row counts catch it.
    let work = setup.dir.path().join("work");
    let r = restore_test(&data, &work).expect("the restore test runs");
    assert!(!r.passed, "{}", r.summary());
    let want = format!(
        "pmi.pendonor: backup says {} rows, restored {restored_rows}",
        expected["pmi.pendonor"]
    );
    assert_eq!(r.problems, vec![want], "{}", r.summary());
    let c = check_of(&r, "pmi.pendonor");
    assert_eq!(
        (c.expected, c.actual),
        (expected["pmi.pendonor"], Some(restored_rows))
    );
    for (table, n) in expected.iter().filter(|(t, _)| *t != "pmi.pendonor") {
        assert_eq!(check_of(&r, table).actual, Some(*n), "{table}");
    }
    assert!(r.summary().starts_with("FAIL "));
    assert!(!r.to_row().passed);
    assert_nothing_left(&work);
}

/// Through the command line, as the daemon and IT Support run it: the agent's umask (0027) and a
/// state directory it made itself (0750) must not lock the sandbox user out (review finding).
#[test]
fn verify_restore_on_the_command_line_passes_and_is_recorded() {
    let (_db, setup, target, _data) = seeded_backup(1);
    let out = setup
        .cmd()
        .args(["verify", "--restore", "--target"])
        .arg(&target)
        .output()
        .expect("verify --restore");
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("PASS "),
        "{}",
        show(&out)
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode(&setup.state.join("restore-test")), 0o711);
    assert_eq!(mode(&setup.state) & 0o001, 0o001, "others may pass through");
    assert_eq!(mode(&setup.state) & 0o004, 0, "others may not list it");
    let catalog = Catalog::open(&setup.state).expect("catalog");
    assert!(catalog
        .last_restore_test()
        .expect("read")
        .is_some_and(|r| r.passed));
}

/// A small dump in the shape of mariadb-dump's, with names that need care.
const ODD_DUMP: &str = "/*!40101 SET NAMES utf8mb4 */;\n\
CREATE DATABASE /*!32312 IF NOT EXISTS*/ `uji` /*!40100 DEFAULT CHARACTER SET utf8mb4 */;\n\
USE `uji`;\n\
DROP TABLE IF EXISTS `a.b`;\n\
CREATE TABLE `a.b` (`x` int) ENGINE=InnoDB;\n\
INSERT INTO `a.b` VALUES (1),(2),(3);\n\
DROP TABLE IF EXISTS `nama``aneh; (x)`;\n\
CREATE TABLE `nama``aneh; (x)` (`s` text) ENGINE=MyISAM;\n\
INSERT INTO `nama``aneh; (x)` VALUES ('),(\\'; --'),('baris\\nbaru'),(NULL),(0x2829);\n\
DROP TABLE IF EXISTS `kosong`;\n\
CREATE TABLE `kosong` (`x` int);\n\
-- Dump completed on 2026-11-26 10:00:00\n";

#[test]
fn odd_names_pass_and_a_damaged_copy_or_a_failing_load_fail() {
    let root = crate::support::sandbox::reachable_tempdir();
    let work = root.path().join("work");
    let tables = count(ODD_DUMP.as_bytes(), usize::MAX);
    assert_eq!(
        tables,
        [("uji.a.b", 3), ("uji.kosong", 0), ("uji.nama`aneh; (x)", 4)]
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect::<BTreeMap<_, _>>()
    );

    // A scratch directory left by a power cut, under a pid that is alive again after the reboot
    // (here: this very process): its lock is free, so it is removed.
    let left = work.join(format!("restore-test-{}-1", std::process::id()));
    std::fs::create_dir_all(left.join("data")).expect("mkdir");
    std::fs::write(left.join(".lock"), b"").expect("lock file");
    std::fs::write(left.join("data/ibdata1"), vec![0u8; 4096]).expect("data");

    // A hand-made backup of it passes.
    let data = hand_made_backup(root.path(), ODD_DUMP.as_bytes(), &tables);
    let r = restore_test(&data, &work).expect("runs");
    assert!(!left.exists(), "the leftover scratch directory is removed");
    assert!(r.passed, "{}", r.summary());
    assert_eq!(r.tables.len(), 3);
    assert_nothing_left(&work);

    // One flipped bit: refused before anything is loaded.
    let mut bytes = std::fs::read(&data).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&data, &bytes).expect("write");
    let r = restore_test(&data, &work).expect("runs");
    assert!(!r.passed);
    assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
    assert!(
        r.problems[0].contains("refused") && r.problems[0].contains("checksum mismatch"),
        "{:?}",
        r.problems
    );
    assert!(r.tables.iter().all(|t| t.actual.is_none()));
    assert_nothing_left(&work);

    // A dump the server rejects halfway (checksums fine): the load fails, and the counts show
    // what is missing.
    let broken = ODD_DUMP.replace(
        "INSERT INTO `a.b` VALUES (1),(2),(3);",
        "INSERT INTO `a.b` VALUES (1),(2),(3;",
    );
    forge(&data, broken.as_bytes());
    let r = restore_test(&data, &work).expect("runs");
    assert!(!r.passed);
    assert!(
        r.problems[0].starts_with(
            "loading the dump into the test server failed (exit status 1): ERROR 1064"
        ),
        "{:?}",
        r.problems
    );
    assert!(
        r.problems
            .iter()
            .any(|p| p == "uji.a.b: backup says 3 rows, restored 0"),
        "{:?}",
        r.problems
    );
    assert!(
        r.problems
            .iter()
            .any(|p| p
                .starts_with("uji.nama`aneh; (x): backup says 4 rows, but the table is missing")),
        "{:?}",
        r.problems
    );
    assert_nothing_left(&work);
}
