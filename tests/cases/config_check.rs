//! `config check` on broken configurations: exit 2 and `file:line:column: what is wrong`.

use std::os::unix::fs::PermissionsExt;

use crate::support::agent::{bin, show};

fn check(text: &str) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("config.toml");
    std::fs::write(
        &path,
        text.replace("@DIR@", &dir.path().display().to_string()),
    )
    .expect("write");
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "x\n").expect("write");
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = std::process::Command::new(bin())
        .arg("--config")
        .arg(&path)
        .args(["config", "check"])
        .output()
        .expect("run");
    let _ = show(&out);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        path.display().to_string(),
    )
}

fn assert_located(text: &str, line: usize, col: usize, needle: &str) {
    let (code, err, path) = check(text);
    assert_eq!(code, Some(2), "{err}");
    let prefix = format!("simdondar-backup: {path}:{line}:{col}: ");
    assert!(
        err.starts_with(&prefix),
        "expected {prefix:?}…, got {err:?}"
    );
    assert!(err.contains(needle), "expected {needle:?} in {err:?}");
}

#[test]
fn bad_toml() {
    assert_located(
        "timezone = \"Asia/Jakarta\"\nstate_dir = /var/lib\n",
        2,
        13,
        "",
    );
}

#[test]
fn unknown_key() {
    assert_located(
        "[[source]]\nname = \"pmi\"\nkind = \"mysql\"\nsocket = \"/s\"\nuser = \"u\"\ndatabses = [\"pmi\"]\n",
        6,
        1,
        "unknown key `databses`",
    );
}

#[test]
fn wrong_type() {
    assert_located("[retention]\nkeep_daily = \"35\"\n", 2, 14, "");
}

#[test]
fn world_readable_password_file() {
    assert_located(
        "[[source]]\nname = \"pmi\"\nkind = \"mysql\"\nsocket = \"/s\"\nuser = \"u\"\npassword_file = \"@DIR@/pw\"\ndatabases = [\"pmi\"]\n",
        6,
        17,
        "chmod 600",
    );
}

#[test]
fn missing_file_is_a_usage_error() {
    let out = std::process::Command::new(bin())
        .args(["--config", "/nonexistent/config.toml", "config", "check"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/config.toml: cannot read"));
}

#[test]
fn good_config_passes() {
    let (code, err, _) = check("[[source]]\nname = \"pmi\"\nkind = \"mysql\"\nhost = \"10.0.0.5\"\nuser = \"backup\"\ndatabases = [\"pmi\", \"sms\"]\n\n[[target]]\npath = \"/srv/backup\"\n");
    assert_eq!(code, Some(0), "{err}");
}
