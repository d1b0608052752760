//! `verify`: every copy re-read and compared; damage found, renamed `.corrupt`, never counted
//! again; missing or garbage sidecars and manifests give clear errors and no crash. A copy the
//! disk cannot read (a real EIO) is reported unreadable, kept under its name and read again; a
//! missing data file is reported, not renamed; a newer program's manifest is skipped.

use std::path::{Path, PathBuf};

use crate::support::agent::{data_files, files_under, show, Setup};
use crate::support::eio::EioDisk;

fn command_setup() -> (Setup, PathBuf) {
    let setup = Setup::with_sources(
        "[[source]]\nname = \"program\"\nkind = \"command\"\ncommand = [\"sh\", \"-c\", \"head -c 300000 /dev/urandom; date +%s%N\"]\n",
        "[retention]\nkeep_last = 1\nkeep_hourly = 0\nkeep_daily = 0\nkeep_weekly = 0\nkeep_monthly = 0\nkeep_yearly = 0\n",
    );
    let target = setup.target("t");
    (setup, target)
}

fn backups(setup: &Setup, target: &Path, n: usize) {
    for _ in 0..n {
        let out = setup.backup(&[target]);
        assert!(out.status.success(), "{}", show(&out));
    }
}

fn verify(setup: &Setup, target: &Path) -> (Option<i32>, serde_json::Value, String) {
    let out = setup
        .cmd()
        .args(["verify", "--json", "--target"])
        .arg(target)
        .output()
        .expect("verify");
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (
        out.status.code(),
        v,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn corrupt_files(dir: &Path) -> Vec<PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".corrupt"))
        .collect()
}

#[test]
fn a_flipped_byte_is_found_renamed_and_no_longer_counted() {
    let (setup, target) = command_setup();
    backups(&setup, &target, 5);
    let (code, v, err) = verify(&setup, &target);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(v.as_array().map(Vec::len), Some(5));

    let files = data_files(&target);
    let victim = files[2].clone();
    let mut bytes = std::fs::read(&victim).expect("read");
    bytes[1000] ^= 0x20;
    std::fs::write(&victim, bytes).expect("write");

    let (code, v, err) = verify(&setup, &target);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("1 of 5 copies failed verification"), "{err}");
    let bad: Vec<_> = v
        .as_array()
        .expect("array")
        .iter()
        .filter(|c| c["ok"] == false)
        .collect();
    assert_eq!(bad.len(), 1);
    assert_eq!(
        bad[0]["path"].as_str(),
        Some(victim.to_string_lossy().as_ref())
    );
    assert!(
        bad[0]["problem"].as_str().unwrap_or("").contains("damaged"),
        "{bad:?}"
    );
    assert_eq!(bad[0]["verdict"], "mismatch", "{bad:?}");
    assert!(!victim.exists());
    assert_eq!(
        corrupt_files(&target).len(),
        3,
        "data, sidecar and manifest renamed"
    );
    // Recorded in the catalog.
    let cat = simdondar_backup::catalog::Catalog::open(&setup.state).expect("catalog");
    let rec = cat
        .verifications(&target.display().to_string())
        .expect("verifications");
    assert!(rec
        .iter()
        .any(|(p, ok, _)| !ok && *p == victim.display().to_string()));

    // 4 good backups remain; the floor of 5 counts only good ones: the next backup prunes nothing.
    let (_, v, _) = verify(&setup, &target);
    assert_eq!(
        v.as_array().map(Vec::len),
        Some(4),
        "the corrupt copy is no longer listed"
    );
    backups(&setup, &target, 1);
    assert_eq!(data_files(&target).len(), 5);
    // One more: now 6 good ones, keep_last = 1 and the floor keeps 5; the corrupt files stay.
    backups(&setup, &target, 1);
    assert_eq!(data_files(&target).len(), 5);
    assert_eq!(corrupt_files(&target).len(), 3);
}

#[test]
fn missing_or_garbage_sidecar_and_manifest() {
    let (setup, target) = command_setup();
    backups(&setup, &target, 3);
    let files = data_files(&target);
    let side = |p: &Path| PathBuf::from(format!("{}.sha256", p.display()));
    let man = |p: &Path| PathBuf::from(format!("{}.json", p.display()));
    std::fs::remove_file(side(&files[0])).expect("rm sidecar");
    std::fs::write(side(&files[1]), "garbage\n").expect("garble sidecar");
    std::fs::write(man(&files[2]), "{ not json").expect("garble manifest");

    let (code, v, err) = verify(&setup, &target);
    assert_eq!(code, Some(1), "{err}");
    let list = v.as_array().expect("array");
    let by_path = |p: &Path| {
        list.iter()
            .find(|c| c["path"].as_str() == Some(p.to_string_lossy().as_ref()))
            .unwrap_or_else(|| panic!("{} not in {list:?}", p.display()))
            .clone()
    };
    // A missing or garbled sidecar is rewritten from the verified data and manifest.
    for f in &files[..2] {
        let c = by_path(f);
        assert_eq!(c["ok"], true, "{c}");
        assert!(
            c["action"].as_str().unwrap_or("").contains("rewritten"),
            "{c}"
        );
        let text = std::fs::read_to_string(side(f)).expect("sidecar back");
        assert!(text.ends_with(&format!(
            "  {}\n",
            f.file_name().expect("n").to_string_lossy()
        )));
    }
    // A garbage manifest makes the copy unusable: reported, renamed, not counted.
    let c = by_path(&files[2]);
    assert_eq!(c["ok"], false);
    assert!(
        c["problem"]
            .as_str()
            .unwrap_or("")
            .contains("unusable manifest"),
        "{c}"
    );

    // list and restore say clearly what is wrong, and do not crash.
    let list = setup
        .cmd()
        .args(["list", "--target"])
        .arg(&target)
        .output()
        .expect("list");
    assert!(list.status.success(), "{}", show(&list));
    let r = setup
        .cmd()
        .arg("restore")
        .arg(&files[2])
        .arg("--stdout")
        .output()
        .expect("restore");
    assert_eq!(r.status.code(), Some(1), "{}", show(&r));
    assert!(r.stdout.is_empty());
}

#[test]
fn verify_a_target_that_does_not_exist() {
    let (setup, _) = command_setup();
    let out = setup
        .cmd()
        .args(["verify", "--target", "/nonexistent/disk"])
        .output()
        .expect("verify");
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("/nonexistent/disk"),
        "{}",
        show(&out)
    );
}

fn by_path(list: &serde_json::Value, p: &Path) -> serde_json::Value {
    list.as_array()
        .expect("array")
        .iter()
        .find(|c| c["path"].as_str() == Some(p.to_string_lossy().as_ref()))
        .unwrap_or_else(|| panic!("{} not in {list}", p.display()))
        .clone()
}

fn marker(p: &Path) -> PathBuf {
    PathBuf::from(format!("{}.unreadable", p.display()))
}

#[test]
fn a_truncated_copy_is_a_mismatch_and_renamed() {
    let (setup, target) = command_setup();
    backups(&setup, &target, 3);
    let victim = data_files(&target)[1].clone();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&victim)
        .expect("open");
    f.set_len(1000).expect("truncate");
    drop(f);
    let (code, v, err) = verify(&setup, &target);
    assert_eq!(code, Some(1), "{err}");
    let c = by_path(&v, &victim);
    assert_eq!(c["verdict"], "mismatch", "{c}");
    assert!(
        c["problem"].as_str().unwrap_or("").contains("1000 bytes"),
        "{c}"
    );
    assert!(!victim.exists(), "renamed .corrupt");
    assert_eq!(corrupt_files(&target).len(), 3);
}

#[test]
fn a_missing_data_file_is_reported_and_nothing_is_renamed() {
    let (setup, target) = command_setup();
    backups(&setup, &target, 3);
    let victim = data_files(&target)[1].clone();
    std::fs::remove_file(&victim).expect("rm");
    let (code, v, err) = verify(&setup, &target);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("1 incomplete"), "{err}");
    let c = by_path(&v, &victim);
    assert_eq!(c["verdict"], "missing", "{c}");
    assert_eq!(c["ok"], false, "{c}");
    assert!(corrupt_files(&target).is_empty(), "nothing renamed");
    assert!(PathBuf::from(format!("{}.json", victim.display())).exists());
}

#[test]
fn a_newer_format_manifest_is_skipped_with_a_note() {
    let (setup, target) = command_setup();
    backups(&setup, &target, 2);
    let victim = data_files(&target)[0].clone();
    let man = PathBuf::from(format!("{}.json", victim.display()));
    let mut m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&man).expect("read")).expect("json");
    m["format"] = serde_json::json!(2);
    m["something_new"] = serde_json::json!({"chunks": [1, 2, 3]});
    std::fs::write(&man, serde_json::to_vec(&m).expect("ser")).expect("write");

    let out = setup
        .cmd()
        .args(["verify", "--target"])
        .arg(&target)
        .output()
        .expect("verify");
    // Nothing is known to be bad: exit 0, and the output says what was not checked.
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("SKIPPED"), "{stdout}");
    assert!(
        stdout.contains("written by a newer simdondar-backup; not checked"),
        "{stdout}"
    );
    let (code, v, err) = verify(&setup, &target);
    assert_eq!(code, Some(0), "{err}");
    let c = by_path(&v, &victim);
    assert_eq!(c["verdict"], "skipped", "{c}");
    assert_eq!(c["format"], 2, "{c}");
    assert!(corrupt_files(&target).is_empty(), "not renamed");
    assert!(victim.exists() && man.exists());
    // Not recorded as a verification (nothing was checked).
    let cat = simdondar_backup::catalog::Catalog::open(&setup.state).expect("catalog");
    let rec = cat
        .verifications(&target.display().to_string())
        .expect("verifications");
    assert!(
        !rec.iter()
            .any(|(p, _, _)| *p == victim.display().to_string()),
        "{rec:?}"
    );
    // Retention leaves it alone and does not count it.
    let plan = setup.prune_plan(&target);
    let i = by_path(&plan, &victim);
    assert_eq!(i["decision"], "not-counted", "{i}");
    assert_eq!(i["completeness"]["state"], "newer_format", "{i}");
}

/// A real read error: the disk returns EIO for one copy's data. The copy is reported
/// `unreadable` (kind `io_error`, errno 5), not renamed, marked, not counted by retention, and
/// read again at the next verification; once the disk reads it fine, it is good again.
#[test]
fn a_read_error_is_unreadable_not_corrupt_and_retried() {
    let (setup, _) = command_setup();
    let mut disk = EioDisk::new();
    let target = disk.path().to_path_buf();
    backups(&setup, &target, 3);
    let files = data_files(&target);
    assert_eq!(files.len(), 3);
    let victim = files[1].clone();
    disk.cut_under(&victim);

    let (code, v, err) = verify(&setup, &target);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("1 unreadable"), "{err}");
    let c = by_path(&v, &victim);
    assert_eq!(c["verdict"], "unreadable", "{c}");
    assert_eq!(c["failure"], "io_error", "{c}");
    assert_eq!(c["errno"], libc::EIO, "{c}");
    assert_eq!(c["ok"], false, "{c}");
    for other in [&files[0], &files[2]] {
        let o = by_path(&v, other);
        assert_eq!(o["verdict"], "good", "{o}");
    }
    // Not renamed; marked, so the floor does not count it.
    assert!(victim.exists(), "the unreadable copy keeps its name");
    assert!(corrupt_files(&target).is_empty(), "nothing renamed");
    let mark = marker(&victim);
    // verify's note says why when the mark could not be written (a CI run once found none).
    let bytes = std::fs::read(&mark).unwrap_or_else(|e| panic!("marker written: {e}; verify: {c}"));
    let first: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
    assert_eq!(first["failure"], "io_error", "{first}");
    assert_eq!(first["errno"], libc::EIO, "{first}");
    let plan = setup.prune_plan(&target);
    let i = by_path(&plan, &victim);
    assert_eq!(i["decision"], "not-counted", "{i}");
    assert_eq!(i["completeness"]["state"], "marked_unreadable", "{i}");

    // Read again at the next verification (still failing: still unreadable, same first time).
    let (code, v, err) = verify(&setup, &target);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(by_path(&v, &victim)["verdict"], "unreadable");
    let again: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&mark).expect("marker")).expect("json");
    assert_eq!(again["at"], first["at"], "keeps when it was first found");

    // The disk reads it again (a reseated cable): good, the mark removed, counted again.
    disk.heal();
    let (code, v, err) = verify(&setup, &target);
    assert_eq!(code, Some(0), "{err}");
    let c = by_path(&v, &victim);
    assert_eq!(c["verdict"], "good", "{c}");
    assert!(
        c["action"].as_str().unwrap_or("").contains("read fine"),
        "{c}"
    );
    assert!(!mark.exists(), "the mark is removed");
    let cat = simdondar_backup::catalog::Catalog::open(&setup.state).expect("catalog");
    let rec = cat
        .verifications(&target.display().to_string())
        .expect("verifications");
    let mine: Vec<bool> = rec
        .iter()
        .filter(|(p, _, _)| *p == victim.display().to_string())
        .map(|(_, ok, _)| *ok)
        .collect();
    assert_eq!(mine.len(), 3, "{rec:?}");
    assert_eq!(mine.iter().filter(|ok| **ok).count(), 1, "{rec:?}");
}
