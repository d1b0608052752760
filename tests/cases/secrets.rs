//! Secrets are nowhere but in files only root can read (issue 12): the dump client reads only the
//! agent's own options file, whatever `~/.my.cnf` says; and while an alert is delivered (webhook
//! through the real curl, mail through a real SMTP server with STARTTLS and AUTH), a MariaDB dump
//! runs and an ssh-tar source runs, no process's argv or environment holds a secret.

use std::process::Stdio;

use crate::support::agent::{data_files, show, Setup, PASSWORD};
use crate::support::mariadb::MariaDb;

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
