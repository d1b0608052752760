//! Secrets are nowhere but in files only root can read (issue 12): the dump client reads only the
//! agent's own options file, whatever `~/.my.cnf` says; and while an alert is delivered (webhook
//! through the real curl, mail through a real SMTP server with STARTTLS and AUTH), a MariaDB dump
//! runs and an ssh-tar source runs, no process's argv or environment holds a secret.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use simdondar_backup::agent::alerts::{self, AlertError};
use simdondar_backup::config::{NotifyConfig, SmtpTls};

use crate::support::agent::{data_files, show, Setup, PASSWORD};
use crate::support::daemon::Daemon;
use crate::support::mariadb::MariaDb;
use crate::support::procscan::ProcScan;
use crate::support::smtpd::{Smtpd, SMTP_USER};
use crate::support::sshd::Sshd;

/// The original dump of the newest backup in `target`.
fn restored_dump(setup: &Setup, target: &std::path::Path) -> String {
    let data = data_files(target).pop().expect("a data file");
    let r = setup
        .cmd()
        .arg("restore")
        .arg(&data)
        .arg("--stdout")
        .stdout(Stdio::piped())
        .output()
        .expect("restore");
    assert!(r.status.success(), "{}", show(&r));
    String::from_utf8_lossy(&r.stdout).into_owned()
}

/// A `[mysqldump]` / `[mariadb-dump]` section with `no-data`, or a `[client]` section pointing at
/// a port where nothing listens, in the agent's `~/.my.cnf`, or `MYSQL_HOST`/`MYSQL_TCP_PORT` in
/// its environment, change nothing: the run succeeds and every table's rows are in the dump (the
/// clients read only `--defaults-file`, the agent's own file, and see only `PATH`).
#[test]
fn the_dump_ignores_the_option_files_of_the_agents_home() {
    let db = MariaDb::start();
    db.seed(0);
    db.create_backup_user("backup", PASSWORD);
    let with_rows: Vec<String> = db
        .row_counts("pmi")
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(t, _)| t)
        .collect();
    assert!(!with_rows.is_empty(), "the seeded pmi has rows");
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let port = closed_port.to_string();
    // Each variant on its own, so each shows one way the old client could be steered.
    let variants: [(&str, &[(&str, &str)]); 3] = [
        ("[mysqldump]\nno-data\n[mariadb-dump]\nno-data\n", &[]),
        (
            &format!("[client]\nprotocol=TCP\nhost=127.0.0.1\nport={closed_port}\nuser=nobody\npassword=wrong\n"),
            &[],
        ),
        ("", &[("MYSQL_HOST", "127.0.0.1"), ("MYSQL_TCP_PORT", &port)]),
    ];
    for (i, (cnf, env)) in variants.iter().enumerate() {
        let setup = Setup::for_db(&db, PASSWORD);
        let home = setup.dir.path().join("home");
        std::fs::create_dir_all(&home).expect("home");
        std::fs::write(home.join(".my.cnf"), cnf).expect(".my.cnf");
        let target = setup.target("t");
        let out = setup
            .cmd()
            .arg("backup")
            .arg("--target")
            .arg(&target)
            .env("HOME", &home)
            .envs(env.iter().copied())
            .output()
            .expect("backup");
        assert!(
            out.status.success(),
            "variant {i} (.my.cnf {cnf:?}, environment {env:?}) broke the run: {}",
            show(&out)
        );
        let dump = restored_dump(&setup, &target);
        for t in &with_rows {
            assert!(
                dump.contains(&format!("INSERT INTO `{t}`")),
                "variant {i} (.my.cnf {cnf:?}, environment {env:?}): the rows of pmi.{t} are missing from the dump"
            );
        }
    }
}

/// A run-time unique string, so that no other test running in parallel can produce it.
fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// `[notify]` for the loopback relay `smtpd` with its CA and a 0600 credentials file in `dir`.
fn notify_mail(smtpd: &Smtpd, dir: &Path) -> NotifyConfig {
    NotifyConfig {
        smtp_relay: Some(format!("127.0.0.1:{}", smtpd.port)),
        smtp_tls: SmtpTls::StartTls,
        smtp_credentials: Some(smtpd.credentials_file(dir)),
        smtp_ca_file: Some(smtpd.ca.clone()),
        mail_from: Some("simdondar@utd.test".into()),
        mail_to: vec!["it@utd.test".into()],
        ..NotifyConfig::default()
    }
}

/// The alert mail reaches a real SMTP server on loopback after STARTTLS (TLS 1.2 or 1.3, the
/// relay's certificate checked against `smtp_ca_file`), logged in with the credentials file.
#[test]
fn alert_mail_goes_over_starttls_and_logs_in() {
    let smtpd = Smtpd::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let n = notify_mail(&smtpd, dir.path());
    alerts::mail(
        &n,
        "utd-test",
        "[utd-test] SIMDONDAR backup FAILING",
        "pmi: gagal\n.titik",
    )
    .expect("the mail is delivered");
    let m = smtpd
        .wait_mail(Duration::from_secs(10))
        .expect("the relay got the mail");
    assert_eq!(m["authenticated"], true, "{m}");
    assert_eq!(m["login"], SMTP_USER, "{m}");
    let tls = m["tls"].as_str().unwrap_or("");
    assert!(tls == "TLSv1.3" || tls == "TLSv1.2", "not over TLS: {m}");
    assert_eq!(m["mail_from"], "simdondar@utd.test", "{m}");
    assert_eq!(m["rcpt_tos"], serde_json::json!(["it@utd.test"]), "{m}");
    let content = m["content"].as_str().unwrap_or("");
    assert!(
        content.contains("Subject: [utd-test] SIMDONDAR backup FAILING"),
        "{content}"
    );
    assert!(content.contains("pmi: gagal"), "{content}");

    // A wrong password is refused by the relay and named as such.
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        format!("username = \"{SMTP_USER}\"\npassword = \"wrong-one\"\n"),
    )
    .expect("write");
    let n_bad = NotifyConfig {
        smtp_credentials: Some(bad),
        ..n.clone()
    };
    let e = alerts::mail(&n_bad, "utd-test", "s", "t").expect_err("refused");
    assert!(
        matches!(e, AlertError::LoginRefused { code: 535, .. }),
        "{e:?}"
    );

    // Without smtp_ca_file the private CA is not trusted: no mail.
    let n_untrusted = NotifyConfig {
        smtp_ca_file: None,
        ..n
    };
    let e = alerts::mail(&n_untrusted, "utd-test", "s", "t").expect_err("untrusted");
    assert!(matches!(e, AlertError::Tls { .. }), "{e:?}");
    assert_eq!(smtpd.mails().len(), 1, "only the first mail arrived");
}

/// A relay that offers no STARTTLS gets neither the mail nor the password (smtp_tls defaults to
/// "starttls"): the relay records no login attempt at all.
#[test]
fn a_relay_without_starttls_gets_no_mail_and_no_password() {
    let smtpd = Smtpd::start_plain();
    let dir = tempfile::tempdir().expect("tempdir");
    let n = notify_mail(&smtpd, dir.path());
    let e = alerts::mail(&n, "utd-test", "s", "t").expect_err("refused on our side");
    assert!(matches!(e, AlertError::Client { .. }), "{e:?}");
    assert!(
        smtpd.events().is_empty(),
        "the relay saw a login or a mail: {:?}",
        smtpd.events()
    );
}

/// A loopback HTTP listener for the webhook: it answers each request `delay` after reading it
/// (so the curl that sent it lives long enough to be sampled) and keeps each request line.
struct Hook {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Hook {
    fn start(delay: Duration) -> Hook {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                let seen = seen.clone();
                std::thread::spawn(move || {
                    let mut w = match s.try_clone() {
                        Ok(w) => w,
                        Err(_) => return,
                    };
                    let mut r = BufReader::new(s);
                    let mut line = String::new();
                    if r.read_line(&mut line).is_err() {
                        return;
                    }
                    let mut length = 0usize;
                    loop {
                        let mut h = String::new();
                        if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                            break;
                        }
                        if let Some((k, v)) = h.split_once(':') {
                            if k.eq_ignore_ascii_case("content-length") {
                                length = v.trim().parse().unwrap_or(0);
                            }
                        }
                    }
                    let mut body = vec![0u8; length];
                    let _ = r.read_exact(&mut body);
                    std::thread::sleep(delay);
                    let _ = w.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                    if let Ok(mut v) = seen.lock() {
                        v.push(line.trim().to_string());
                    }
                });
            }
        });
        Hook { port, requests }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

/// The scanner itself finds a secret in a process's argv and in its environment, and counts
/// that process: a clean report from it means something.
#[test]
fn the_scanner_finds_a_secret_in_argv_and_in_environ() {
    let in_argv = unique("argv-secret");
    let in_env = unique("env-secret");
    let scan = ProcScan::start(&[("argv", &in_argv), ("env", &in_env)]);
    let mut child = Command::new("sh")
        .args(["-c", "sleep 0.5", &in_argv])
        .env("SOME_TOKEN", &in_env)
        .spawn()
        .expect("sh");
    child.wait().expect("wait");
    let report = scan.stop();
    assert!(report.samples > 0);
    assert!(report.saw("sh") > 0, "{:?}", report.seen);
    let found: Vec<(&str, &str)> = report
        .hits
        .iter()
        .filter(|h| h.pid == child.id())
        .map(|h| (h.file, h.secret.as_str()))
        .collect();
    assert!(found.contains(&("cmdline", "argv")), "{:?}", report.hits);
    assert!(found.contains(&("environ", "env")), "{:?}", report.hits);
}

/// DESIGN.md §4.6 with every kind of secret at once: while the daemon delivers an alert (the
/// webhook by the real curl to a loopback listener, the mail by STARTTLS and AUTH to a real SMTP
/// server), then while `backup` dumps MariaDB with mariadb-dump and reads an ssh-tar source over
/// a real sshd, no process's cmdline or environ holds the webhook token, the database password,
/// the SMTP password or a line of the SSH private key; and the sampler saw each of those programs.
#[test]
fn no_secret_in_any_process_during_an_alert_a_dump_and_an_ssh_tar_run() {
    let db_password = unique("Db\"pw\\x");
    let token = unique("bot7:AAHtoken");
    let db = MariaDb::start();
    db.seed(10);
    db.create_backup_user("backup", &db_password);
    let sshd = Sshd::start();
    std::fs::set_permissions(&sshd.key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let key_lines: Vec<String> = std::fs::read_to_string(&sshd.key)
        .expect("key")
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 40)
        .map(String::from)
        .collect();
    assert!(!key_lines.is_empty(), "the private key has body lines");
    let app = tempfile::tempdir().expect("tempdir");
    // Incompressible, so that ssh and tar run for a while.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let blob: Vec<u8> = (0..32 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(app.path().join("upload.bin"), &blob).expect("write");
    let smtpd = Smtpd::start();
    let hook = Hook::start(Duration::from_millis(1500));
    let notify_dir = tempfile::tempdir().expect("tempdir");
    let mail = notify_mail(&smtpd, notify_dir.path());
    let webhook = format!("http://127.0.0.1:{}/{token}/sendMessage", hook.port);
    let alert_setup = Setup::with_sources(
        "",
        &format!(
            "[schedule]\nrestore_test = \"0\"\nscrub = \"0\"\n\n[notify]\nwebhook = \"{webhook}\"\nsmtp_relay = \"{}\"\nsmtp_credentials = \"{}\"\nsmtp_ca_file = \"{}\"\nmail_from = \"simdondar@utd.test\"\nmail_to = [\"it@utd.test\"]\n",
            mail.smtp_relay.as_deref().unwrap_or(""),
            mail.smtp_credentials.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
            smtpd.ca.display()
        ),
    );
    let backup_setup = Setup::for_db(&db, &db_password);
    let text = std::fs::read_to_string(&backup_setup.config).expect("config");
    std::fs::write(
        &backup_setup.config,
        format!(
            "{text}[[source]]\nname = \"program\"\nkind = \"ssh-tar\"\nhost = \"127.0.0.1\"\nport = {}\nuser = \"root\"\nkey_file = \"{}\"\nknown_hosts = \"{}\"\npath = \"{}\"\n",
            sshd.port,
            sshd.key.display(),
            sshd.known_hosts.display(),
            app.path().display()
        ),
    )
    .expect("config");

    let mut secrets: Vec<(String, String)> = vec![
        ("webhook token".into(), token.clone()),
        ("database password".into(), db_password.clone()),
        ("SMTP password".into(), smtpd.password.clone()),
    ];
    for (i, l) in key_lines.iter().enumerate() {
        secrets.push((format!("SSH private key line {}", i + 1), l.clone()));
    }
    let refs: Vec<(&str, &str)> = secrets
        .iter()
        .map(|(l, s)| (l.as_str(), s.as_str()))
        .collect();
    let scan = ProcScan::start(&refs);

    // (a) An alert: with no backup disk at all the daemon is failing at its first tick.
    let mut daemon = Daemon::spawn(&alert_setup, 1);
    let deadline = Instant::now() + Duration::from_secs(60);
    while hook.requests().is_empty() || smtpd.mails().is_empty() {
        assert!(
            Instant::now() <= deadline,
            "no alert within 60 s (webhook requests {:?}, mails {:?}); daemon log:\n{}",
            hook.requests(),
            smtpd.events(),
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    daemon.signal(nix::sys::signal::Signal::SIGTERM);

    // (b) and (c): a MariaDB dump and an ssh-tar run.
    let target = backup_setup.target("t");
    let out = backup_setup.backup(&[&target]);
    let report = scan.stop();
    assert!(out.status.success(), "{}", show(&out));

    // The secrets were really in play: the token reached the listener, the mail logged in.
    let requests = hook.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with("POST /") && r.contains(&token)),
        "{requests:?}"
    );
    let m = &smtpd.mails()[0];
    assert_eq!(m["login"], SMTP_USER, "{m}");
    assert!(m["tls"].as_str().is_some(), "{m}");
    assert_eq!(data_files(&target).len(), 2, "a dump and a tar");

    // (The `mariadb` client calls before the dump last milliseconds: not required to be caught;
    // they get the same options-file argument as mariadb-dump.)
    report.assert_clean_while(&["simdondar-backup", "curl", "mariadb-dump", "ssh"]);
    eprintln!(
        "procscan: {} passes; curl in {}, mariadb-dump in {}, ssh in {}",
        report.samples,
        report.saw("curl"),
        report.saw("mariadb-dump"),
        report.saw("ssh")
    );
}
