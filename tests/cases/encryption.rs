//! Protecting donor data: age encryption of copies for roles that require it (manual disks by
//! default), decryptable with the standard `age` tool; nothing in clear where encryption is
//! required; and the tamper-evident audit log.

use std::process::{Command, Stdio};

use simdondar_backup::testdb::KNOWN_DONOR_NAME;

use crate::support::agent::{files_under, require_tool, show, Setup, PASSWORD};
use crate::support::mariadb::MariaDb;

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn all_bytes(dir: &std::path::Path) -> Vec<u8> {
    files_under(dir)
        .iter()
        .flat_map(|p| std::fs::read(p).unwrap_or_default())
        .collect()
}

fn setup_with(db: &MariaDb, encryption: &str) -> (Setup, std::path::PathBuf, std::path::PathBuf) {
    let setup = Setup::for_db(db, PASSWORD);
    let hdd = setup.target("hdd");
    let flash = setup.target("flash");
    let text = std::fs::read_to_string(&setup.config).expect("config");
    std::fs::write(
        &setup.config,
        format!(
            "{text}\n[[target]]\npath = \"{}\"\nrole = \"auto\"\n\n[[target]]\npath = \"{}\"\nrole = \"manual\"\n\n[encryption]\n{encryption}\n",
            hdd.display(),
            flash.display()
        ),
    )
    .expect("config");
    (setup, hdd, flash)
}

#[test]
fn manual_copies_are_encrypted_and_decrypt_with_the_age_tool() {
    let age = require_tool("age", "age");
    let db = MariaDb::start();
    db.seed(0);
    db.create_backup_user("backup", PASSWORD);
    let keydir = tempfile::tempdir().expect("tempdir");
    let key = keydir.path().join("it-support.key");
    let kg = Command::new(crate::support::agent::bin())
        .args(["keygen", "--out"])
        .arg(&key)
        .output()
        .expect("keygen");
    assert!(kg.status.success(), "{}", show(&kg));
    let out = String::from_utf8_lossy(&kg.stdout);
    let public = out
        .split('"')
        .find(|w| w.starts_with("age1"))
        .unwrap_or_else(|| panic!("no recipient printed: {out}"))
        .to_string();
    assert!(String::from_utf8_lossy(&kg.stderr).contains("OFF the appliance"));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key).expect("key").permissions().mode() & 0o777,
        0o600
    );
    let again = Command::new(crate::support::agent::bin())
        .args(["keygen", "--out"])
        .arg(&key)
        .output()
        .expect("keygen");
    assert_eq!(again.status.code(), Some(1), "a key is never overwritten");

    let (setup, hdd, flash) = setup_with(
        &db,
        &format!("recipients = [\"{public}\"]\nrequire_for = [\"manual\"]"),
    );
    let b = setup.backup(&[]);
    // No --target: the configured targets.
    let b = if b.status.success() {
        b
    } else {
        panic!("{}", show(&b))
    };
    let _ = b;
    let clear: Vec<_> = files_under(&hdd)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".sql.zst"))
        .collect();
    let sealed: Vec<_> = files_under(&flash)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".sql.zst.age"))
        .collect();
    assert_eq!(
        (clear.len(), sealed.len()),
        (1, 1),
        "{:?} {:?}",
        files_under(&hdd),
        files_under(&flash)
    );
    assert!(
        !files_under(&flash)
            .iter()
            .any(|p| p.to_string_lossy().ends_with(".sql.zst")),
        "no clear copy on the manual disk"
    );
    let name = KNOWN_DONOR_NAME.as_bytes();
    assert!(
        !contains(&all_bytes(&flash), name),
        "the donor's name is readable on the manual disk"
    );
    let m: serde_json::Value = serde_json::from_slice(
        &std::fs::read(format!("{}.json", sealed[0].display())).expect("manifest"),
    )
    .expect("json");
    assert_eq!(m["encrypted"], true);
    assert_eq!(m["recipients"], serde_json::json!([public]));

    // The standard tools: age -d -i KEY FILE | zstd -d gives back the dump.
    let dec = Command::new(&age)
        .arg("-d")
        .arg("-i")
        .arg(&key)
        .arg(&sealed[0])
        .output()
        .expect("age");
    assert!(dec.status.success(), "{}", show(&dec));
    let mut z = Command::new("zstd")
        .args(["-d", "-c"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("zstd");
    // Feed stdin from another thread: zstd's output pipe would otherwise fill and block both.
    let mut stdin = z.stdin.take().expect("stdin");
    let compressed = dec.stdout.clone();
    let feeder = std::thread::spawn(move || {
        use std::io::Write;
        let _ = stdin.write_all(&compressed);
    });
    let dump = z.wait_with_output().expect("zstd");
    feeder.join().expect("feeder");
    assert!(dump.status.success());
    assert!(contains(&dump.stdout, b"-- Dump completed"));
    assert!(contains(&dump.stdout, name));
    // simdondar-backup restore needs the key, and then gives the same dump as the clear copy.
    let r = setup
        .cmd()
        .arg("restore")
        .arg(&sealed[0])
        .arg("--stdout")
        .output()
        .expect("restore");
    assert_eq!(r.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&r.stderr).contains("--identity"),
        "{}",
        show(&r)
    );
    let r = setup
        .cmd()
        .arg("restore")
        .arg(&sealed[0])
        .args(["--stdout", "--identity"])
        .arg(&key)
        .output()
        .expect("restore");
    assert!(r.status.success(), "{}", show(&r));
    let c = setup
        .cmd()
        .arg("restore")
        .arg(&clear[0])
        .arg("--stdout")
        .output()
        .expect("restore");
    assert_eq!(
        r.stdout, c.stdout,
        "the encrypted and the clear copy hold the same dump"
    );
    assert_eq!(r.stdout, dump.stdout);
}

#[test]
fn without_a_recipient_nothing_reaches_the_manual_disk_in_clear() {
    let db = MariaDb::start();
    db.seed(0);
    db.create_backup_user("backup", PASSWORD);
    let (setup, hdd, flash) = setup_with(&db, "recipients = []\nrequire_for = [\"manual\"]");
    let b = setup.backup(&[]);
    assert_eq!(b.status.code(), Some(1), "{}", show(&b));
    let err = String::from_utf8_lossy(&b.stderr);
    assert!(
        err.contains("must be encrypted, but no recipient is configured"),
        "{}",
        show(&b)
    );
    assert!(err.contains("1 of 2 copies written"), "{}", show(&b));
    assert!(files_under(&flash).is_empty(), "{:?}", files_under(&flash));
    assert!(!contains(&all_bytes(&flash), KNOWN_DONOR_NAME.as_bytes()));
    assert_eq!(
        files_under(&hdd)
            .iter()
            .filter(|p| p.to_string_lossy().ends_with(".sql.zst"))
            .count(),
        1
    );
}

#[test]
fn tampering_with_the_audit_log_is_found() {
    let setup = Setup::with_sources(
        "[[source]]\nname = \"program\"\nkind = \"command\"\ncommand = [\"date\", \"+%s%N\"]\nextension = \"txt\"\n",
        "",
    );
    let t = setup.target("t");
    for _ in 0..2 {
        let b = setup.backup(&[&t]);
        assert!(b.status.success(), "{}", show(&b));
    }
    let v = setup
        .cmd()
        .args(["audit", "verify"])
        .output()
        .expect("audit verify");
    assert!(v.status.success(), "{}", show(&v));
    assert!(
        String::from_utf8_lossy(&v.stdout).contains("intact: 4 entries"),
        "{}",
        show(&v)
    );

    // Someone with the SQLite file changes the outcome of the first run.
    let conn = rusqlite::Connection::open(setup.state.join("catalog.sqlite")).expect("open");
    conn.execute_batch(
        "DROP TRIGGER audit_no_update;
         UPDATE audit SET detail = replace(detail, '\"ok\":true', '\"ok\":false') WHERE id = 2;",
    )
    .expect("tamper");
    drop(conn);
    let v = setup
        .cmd()
        .args(["audit", "verify"])
        .output()
        .expect("audit verify");
    assert_eq!(v.status.code(), Some(1), "{}", show(&v));
    let err = String::from_utf8_lossy(&v.stderr);
    assert!(err.contains("audit entry 2"), "{}", show(&v));
    assert!(err.contains("changed after it was written"), "{}", show(&v));
}

/// Deleting the newest entries leaves a chain that is intact in itself; the anchor every disk
/// carries (issue 18) finds the cut and names the missing entries.
#[test]
fn a_cut_tail_of_the_audit_log_is_found_through_a_disk_anchor() {
    let setup = Setup::with_sources(
        "[[source]]\nname = \"program\"\nkind = \"command\"\ncommand = [\"date\", \"+%s%N\"]\nextension = \"txt\"\n",
        "",
    );
    let t = setup.target("t");
    for _ in 0..3 {
        let b = setup.backup(&[&t]);
        assert!(b.status.success(), "{}", show(&b));
    }
    let anchor: serde_json::Value = serde_json::from_slice(
        &std::fs::read(t.join("SIMDONDAR-BACKUP/audit-anchor.json")).expect("the disk's anchor"),
    )
    .expect("JSON");
    let id = anchor["id"].as_i64().expect("id");
    let conn = rusqlite::Connection::open(setup.state.join("catalog.sqlite")).expect("open");
    let newest: i64 = conn
        .query_row("SELECT max(id) FROM audit", [], |r| r.get(0))
        .expect("max");
    assert!(id >= 3 && id <= newest, "anchor {id}, newest {newest}");
    let index = std::fs::read_to_string(t.join("SIMDONDAR-BACKUP/INDEX.html")).expect("index");
    assert!(
        index.contains(&format!("jejak audit saat ditulis: entri #{id} \u{b7} ")),
        "the index shows the anchor"
    );
    let verify = |extra: &[&std::path::Path]| {
        let mut c = setup.cmd();
        c.args(["audit", "verify"]);
        for p in extra {
            c.arg("--target").arg(p);
        }
        c.output().expect("audit verify")
    };
    let v = verify(&[&t]);
    assert!(v.status.success(), "{}", show(&v));
    assert!(
        String::from_utf8_lossy(&v.stdout).contains(&format!("it holds entry {id} as the disk")),
        "{}",
        show(&v)
    );

    // Someone with the SQLite file deletes the newest entries, from id - 1 on.
    conn.execute_batch(&format!(
        "DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE id >= {};",
        id - 1
    ))
    .expect("cut");
    drop(conn);
    // The chain alone cannot tell.
    let v = verify(&[]);
    assert!(v.status.success(), "{}", show(&v));
    assert!(
        String::from_utf8_lossy(&v.stdout).contains("no disk anchor found"),
        "{}",
        show(&v)
    );
    // The disk can.
    let v = verify(&[&t]);
    assert_eq!(v.status.code(), Some(1), "{}", show(&v));
    let err = String::from_utf8_lossy(&v.stderr);
    assert!(
        err.contains(&format!(
            "the audit log was cut short: entries {} to {id} are missing",
            id - 1
        )),
        "{}",
        show(&v)
    );
}

/// Many processes appending to the audit log at once (the daemon's threads and CLI commands do):
/// every entry is there, in one unbroken chain.
#[test]
fn concurrent_writers_of_the_audit_log_lose_no_entry() {
    let setup = Setup::with_sources(
        "[[source]]\nname = \"program\"\nkind = \"command\"\ncommand = [\"true\"]\n",
        "",
    );
    let dirs: Vec<_> = (0..6).map(|i| setup.target(&format!("d{i}"))).collect();
    for d in &dirs {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    let workers: Vec<_> = dirs
        .iter()
        .map(|d| {
            let config = setup.config.clone();
            let d = d.clone();
            std::thread::spawn(move || {
                for _ in 0..8 {
                    let out = Command::new(crate::support::agent::bin())
                        .arg("--config")
                        .arg(&config)
                        .args(["disk", "enroll"])
                        .arg(&d)
                        .args(["--role", "auto", "--force"])
                        .output()
                        .expect("enroll");
                    assert!(out.status.success(), "{}", show(&out));
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("writer");
    }
    let v = setup
        .cmd()
        .args(["audit", "verify"])
        .output()
        .expect("audit verify");
    assert!(v.status.success(), "{}", show(&v));
    assert!(
        String::from_utf8_lossy(&v.stdout).contains("intact: 48 entries"),
        "{}",
        show(&v)
    );
}
