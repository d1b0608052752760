//! A real backup of the seeded database, checked with the standard tools and restored into a
//! second, fresh MariaDB: every table's CHECKSUM TABLE matches, routines, triggers and views exist.

use std::process::{Command, Stdio};

use crate::support::agent::{data_files, require_tool, show, Setup, PASSWORD};
use crate::support::mariadb::MariaDb;

#[test]
fn backup_restores_to_identical_tables() {
    let sha256sum = require_tool("sha256sum", "coreutils");
    let zstd = require_tool("zstd", "zstd");
    let db = MariaDb::start();
    db.seed(3);
    db.create_backup_user("backup", PASSWORD);
    let setup = Setup::for_db(&db, PASSWORD);
    let target = setup.target("usb1");

    let out = setup.backup(&[&target]);
    assert!(out.status.success(), "backup failed: {}", show(&out));

    let files = data_files(&target);
    assert_eq!(files.len(), 1, "one data file expected: {files:?}");
    let data = &files[0];
    let dir = data.parent().expect("parent");
    let name = data
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    // The layout of DESIGN.md §3: SIMDONDAR-BACKUP/pmi/YYYY/MM/DD/pmi_YYYYMMDD-HHMMSS.sql.zst
    let rel = data
        .strip_prefix(&target)
        .expect("below target")
        .to_string_lossy()
        .into_owned();
    let parts: Vec<&str> = rel.split('/').collect();
    assert_eq!(parts[0], "SIMDONDAR-BACKUP");
    assert_eq!(parts[1], "pmi");
    assert!(
        parts[2].len() == 4 && parts[3].len() == 2 && parts[4].len() == 2,
        "{rel}"
    );
    assert!(
        name.starts_with(&format!("pmi_{}{}{}-", parts[2], parts[3], parts[4])),
        "{name}"
    );
    assert!(name.ends_with(".sql.zst"), "{name}");

    // The standard tools accept what was written.
    let check = Command::new(&sha256sum)
        .arg("-c")
        .arg(format!("{name}.sha256"))
        .current_dir(dir)
        .output()
        .expect("sha256sum");
    assert!(check.status.success(), "sha256sum -c: {}", show(&check));
    let test = Command::new(&zstd)
        .arg("-t")
        .arg(data)
        .output()
        .expect("zstd");
    assert!(test.status.success(), "zstd -t: {}", show(&test));
    let sum = Command::new(&sha256sum)
        .arg(data)
        .output()
        .expect("sha256sum");
    let file_hash = String::from_utf8_lossy(&sum.stdout)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join(format!("{name}.json"))).expect("manifest"))
            .expect("manifest is JSON");
    assert_eq!(manifest["sha256"].as_str(), Some(file_hash.as_str()));
    assert_eq!(manifest["format"], 1);
    assert_eq!(manifest["source"], "pmi");
    assert_eq!(manifest["kind"], "mysql");
    assert_eq!(manifest["compression"], "zstd");
    assert_eq!(manifest["encrypted"], false);
    assert_eq!(
        manifest["databases"],
        serde_json::json!(["pmi", "sms", "wagw"])
    );
    assert_eq!(manifest["parts"], serde_json::json!([name]));
    assert_eq!(
        manifest["bytes_stored"].as_u64(),
        Some(std::fs::metadata(data).expect("stat").len())
    );
    assert!(manifest["server_version"]
        .as_str()
        .unwrap_or("")
        .contains("MariaDB"));
    // pmi mixes MyISAM with InnoDB: auto chose lock-tables and says why.
    assert_eq!(manifest["consistency"]["mode"], "lock-tables");
    assert!(manifest["consistency"]["non_transactional_tables"]["pmi.hasilelisa"] == "MyISAM");
    for key in ["started_at", "finished_at"] {
        let v = manifest[key].as_str().unwrap_or("");
        assert!(v.ends_with("+07:00"), "{key} = {v} must be RFC 3339 in WIB");
    }

    // Restore into a fresh server.
    let fresh = MariaDb::start();
    let mut restore = setup
        .cmd()
        .args(["restore"])
        .arg(data)
        .arg("--stdout")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("restore");
    let stdout = restore.stdout.take().expect("stdout");
    fresh.load_sql_from_reader(stdout);
    let r = restore.wait_with_output().expect("wait restore");
    assert!(r.status.success(), "restore failed: {}", show(&r));

    for schema in ["pmi", "sms", "wagw"] {
        let a = db.table_checksums(schema);
        assert!(!a.is_empty(), "no tables in {schema}");
        assert_eq!(
            a,
            fresh.table_checksums(schema),
            "CHECKSUM TABLE differs in {schema}"
        );
    }
    assert!(!db.routines("pmi").is_empty());
    assert_eq!(
        db.routines("pmi"),
        fresh.routines("pmi"),
        "stored procedures"
    );
    assert!(!db.triggers("pmi").is_empty());
    assert_eq!(db.triggers("pmi"), fresh.triggers("pmi"), "triggers");
    assert!(!db.views("pmi").is_empty());
    assert_eq!(db.views("pmi"), fresh.views("pmi"), "views");
    // latin1 accented names survive as the same bytes.
    let q = "SELECT HEX(Nama) FROM pmi.pendonor ORDER BY 1 LIMIT 50";
    assert_eq!(db.sql(q), fresh.sql(q));

    // The catalog, `status` and `list` say the same.
    let runs = setup.runs();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, "ok");
    assert_eq!(runs[0].sha256.as_deref(), Some(file_hash.as_str()));
    assert_eq!((runs[0].copies_ok, runs[0].copies_total), (1, 1));
    let st = setup
        .cmd()
        .args(["status", "--json"])
        .output()
        .expect("status");
    assert!(st.status.success(), "{}", show(&st));
    let st: serde_json::Value = serde_json::from_slice(&st.stdout).expect("status JSON");
    assert_eq!(
        st["sources"][0]["last_ok"]["sha256"].as_str(),
        Some(file_hash.as_str())
    );
    let list = setup
        .cmd()
        .args(["list", "--json", "--target"])
        .arg(&target)
        .output()
        .expect("list");
    assert!(list.status.success(), "{}", show(&list));
    let list: serde_json::Value = serde_json::from_slice(&list.stdout).expect("list JSON");
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    assert_eq!(list[0]["sha256"].as_str(), Some(file_hash.as_str()));
}

#[test]
fn restore_refuses_a_damaged_copy() {
    let db = MariaDb::start();
    db.seed(0);
    db.create_backup_user("backup", PASSWORD);
    let setup = Setup::for_db(&db, PASSWORD);
    let target = setup.target("t");
    let out = setup.backup(&[&target]);
    assert!(out.status.success(), "{}", show(&out));
    let data = data_files(&target).pop().expect("a data file");
    let mut bytes = std::fs::read(&data).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&data, bytes).expect("write");
    let r = setup
        .cmd()
        .arg("restore")
        .arg(&data)
        .arg("--stdout")
        .output()
        .expect("restore");
    assert_eq!(r.status.code(), Some(1), "{}", show(&r));
    assert!(
        r.stdout.is_empty(),
        "nothing may reach the database from a damaged copy"
    );
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("checksum mismatch"), "{err}");
}
