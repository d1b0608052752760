//! The key-custody check (issue 12) with the real `age` tool: a manual copy carries a challenge
//! for a key never confirmed, the key holder decrypts it with `age -d` and types its words, and
//! the confirmation is audited; nothing else confirms it.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::agent::{files_under, require_tool, show, Setup};

fn keygen(dir: &Path) -> (PathBuf, String) {
    let key = dir.join("it-support.key");
    let kg = Command::new(crate::support::agent::bin())
        .args(["keygen", "--out"])
        .arg(&key)
        .output()
        .expect("keygen");
    assert!(kg.status.success(), "{}", show(&kg));
    let public = String::from_utf8_lossy(&kg.stdout)
        .split('"')
        .find(|w| w.starts_with("age1"))
        .expect("a recipient")
        .to_string();
    (key, public)
}

fn key_status(setup: &Setup) -> serde_json::Value {
    let out = setup
        .cmd()
        .args(["key", "status", "--json"])
        .output()
        .expect("key status");
    assert!(out.status.success(), "{}", show(&out));
    serde_json::from_slice(&out.stdout).expect("JSON")
}

#[test]
fn the_key_holder_decrypts_the_challenge_with_age_and_confirms_it() {
    let age = require_tool("age", "age");
    let keys = tempfile::tempdir().expect("tmp");
    let (key, public) = keygen(keys.path());
    let setup = Setup::with_sources(
        "[[source]]\nname = \"program\"\nkind = \"command\"\ncommand = [\"date\", \"+%s%N\"]\nextension = \"txt\"\n",
        &format!("[encryption]\nrecipients = [\"{public}\"]\nrequire_for = [\"manual\"]\n"),
    );
    let s = key_status(&setup);
    assert_eq!(s[0]["due"], true, "never confirmed: {s}");

    // An auto disk is not where a challenge goes.
    let hdd = setup.target("hdd");
    std::fs::create_dir_all(&hdd).expect("mkdir");
    let out = setup
        .cmd()
        .args(["key", "challenge", "--target"])
        .arg(&hdd)
        .output()
        .expect("challenge");
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));

    // A manual copy carries the challenge.
    let flash = setup.target("flash");
    std::fs::create_dir_all(&flash).expect("mkdir");
    let out = setup
        .cmd()
        .args(["disk", "enroll"])
        .arg(&flash)
        .args(["--role", "manual"])
        .output()
        .expect("enroll");
    assert!(out.status.success(), "{}", show(&out));
    let out = setup.backup(&[&flash]);
    assert!(out.status.success(), "{}", show(&out));
    let challenges: Vec<PathBuf> = files_under(&flash.join("SIMDONDAR-BACKUP/KEY-CHECK"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "age"))
        .collect();
    assert_eq!(challenges.len(), 1, "{:?}", files_under(&flash));
    assert!(flash.join("SIMDONDAR-BACKUP/KEY-CHECK/README.txt").exists());
    // A second copy does not pile up challenges while one is open.
    let out = setup.backup(&[&flash]);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(
        files_under(&flash.join("SIMDONDAR-BACKUP/KEY-CHECK")).len(),
        2,
        "README and one challenge"
    );

    // On the laptop: the stock age tool and the private key.
    let dec = Command::new(&age)
        .args(["-d", "-i"])
        .arg(&key)
        .arg(&challenges[0])
        .output()
        .expect("age -d");
    assert!(dec.status.success(), "{}", show(&dec));
    let text = String::from_utf8_lossy(&dec.stdout).into_owned();
    let words: Vec<String> = text
        .lines()
        .find_map(|l| l.strip_prefix("KATA / WORDS:"))
        .expect("the words line")
        .split_whitespace()
        .map(String::from)
        .collect();
    assert_eq!(words.len(), 5, "{text}");

    // Wrong words are refused.
    let out = setup
        .cmd()
        .args(["key", "confirm", "bukan", "kata", "yang", "benar", "ini"])
        .output()
        .expect("confirm");
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("match no open key check"));
    // The right ones confirm the key.
    let out = setup
        .cmd()
        .args(["key", "confirm"])
        .args(&words)
        .output()
        .expect("confirm");
    assert!(out.status.success(), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&public));
    let s = key_status(&setup);
    assert_eq!(s[0]["due"], false, "{s}");
    assert_eq!(s[0]["days"], 0, "{s}");

    // The record: challenge, failed attempt and confirmation, in an intact chain.
    let conn = rusqlite::Connection::open(setup.state.join("catalog.sqlite")).expect("open");
    let kinds: Vec<String> = conn
        .prepare("SELECT kind FROM audit WHERE kind LIKE 'key-%' ORDER BY id")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(
        kinds,
        ["key-challenge", "key-confirm-failed", "key-confirmed"]
    );
    let v = setup
        .cmd()
        .args(["audit", "verify"])
        .output()
        .expect("audit verify");
    assert!(v.status.success(), "{}", show(&v));
}
