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

/// `config check` in `dir` on `config.toml` holding `text`, written with `mode`: (exit, stderr).
fn check_with_mode(dir: &std::path::Path, text: &str, mode: u32) -> (Option<i32>, String) {
    let path = dir.join("config.toml");
    std::fs::write(&path, text).expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    let out = std::process::Command::new(bin())
        .arg("--config")
        .arg(&path)
        .args(["config", "check"])
        .output()
        .expect("run");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The configuration holding a webhook URL (a bot token) and readable by every user, or an SSH
/// key or SMTP login readable by a group other than root, is a warning that names the file and
/// the `chmod` that fixes it; `config check` still passes. 0640 (the package's mode) is quiet, and
/// so is a world-readable configuration without secrets.
#[test]
fn secret_bearing_files_readable_by_others_are_warned_about() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let webhook = "[notify]\nwebhook = \"https://api.telegram.org/bot123:ABC/sendMessage\"\n";
    let path = d.join("config.toml").display().to_string();

    let (code, err) = check_with_mode(d, webhook, 0o644);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains(&format!(
            "warning: {path} the configuration holds a webhook URL or SMTP settings and is readable by every user (mode 0644): run `chmod 0640 {path}`"
        )),
        "{err}"
    );
    let (code, err) = check_with_mode(d, webhook, 0o640);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        !err.contains("warning"),
        "0640 is what the package installs: {err}"
    );
    let (code, err) = check_with_mode(d, "timezone = \"Asia/Jakarta\"\n", 0o644);
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("warning"), "no secrets, no warning: {err}");

    // An SSH key and an SMTP login readable by group nogroup (not root).
    let key = d.join("id_ed25519");
    std::fs::write(&key, "-----BEGIN OPENSSH PRIVATE KEY-----\n").expect("key");
    let known = d.join("known_hosts");
    std::fs::write(&known, "").expect("known_hosts");
    let cred = d.join("smtp.toml");
    std::fs::write(&cred, "username = \"u\"\npassword = \"p4ss-word\"\n").expect("cred");
    for f in [&key, &cred] {
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        let out = std::process::Command::new("chgrp")
            .arg("nogroup")
            .arg(f)
            .output()
            .expect("chgrp");
        assert!(
            out.status.success(),
            "chgrp nogroup needs root: {}",
            show(&out)
        );
    }
    let text = format!(
        "[[source]]\nname = \"files\"\nkind = \"ssh-tar\"\nhost = \"10.0.0.5\"\nuser = \"backup\"\nkey_file = \"{}\"\nknown_hosts = \"{}\"\npath = \"/var/www/simudda\"\n\n[notify]\nsmtp_relay = \"mail.pmi.local:587\"\nsmtp_credentials = \"{}\"\nmail_from = \"a@pmi.local\"\nmail_to = [\"it@pmi.local\"]\n",
        key.display(),
        known.display(),
        cred.display()
    );
    let (code, err) = check_with_mode(d, &text, 0o640);
    assert_eq!(code, Some(0), "{err}");
    for (key_name, file) in [("key_file", &key), ("smtp_credentials", &cred)] {
        assert!(
            err.contains(&format!(
                "warning: {} {key_name} holds a secret and is readable by the members of group nogroup (mode 0640): run `chmod 0600 {}`",
                file.display(),
                file.display()
            )),
            "{err}"
        );
    }

    // A credentials file config check cannot use is an error with what to write in it.
    std::fs::write(&cred, "user = \"u\"\n").expect("cred");
    let (code, err) = check_with_mode(d, &text, 0o640);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("unknown key `user`"), "{err}");
    assert!(err.contains("username = \"…\""), "{err}");
}
