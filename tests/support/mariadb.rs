//! A private, throw-away MariaDB server for the integration tests.
//!
//! [`MariaDb::start`] runs `mariadb-install-db` into a fresh temporary directory and starts
//! `mariadbd` on a Unix socket in that directory and on a free TCP port of 127.0.0.1, with no
//! option files read (`--no-defaults`). Everything the server writes stays in that directory,
//! which is deleted when the value is dropped. The server never outlives its [`MariaDb`]: drop
//! kills it, and if the test process dies without dropping (a static, `process::exit`, a crash),
//! the kernel kills it too (`PR_SET_PDEATHSIG` from a spawner thread that lives as long as the
//! process).
//!
//! Accounts: `root@localhost` authenticates by `unix_socket`, so the helper's own client calls
//! (run as the OS user root, as the tests are) need no password. Backup users get a password,
//! see [`MariaDb::create_backup_user`].
//!
//! Every failure panics with what went wrong and, for the server, its error log. A missing
//! binary panics with "install it with: apt-get install mariadb-server mariadb-client".
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

const INSTALL_HINT: &str = "install it with: apt-get install mariadb-server mariadb-client";

/// How long the server may take to answer after it was started.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a clean shutdown may take before the server is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// What `mariadb-dump --single-transaction --routines --events --triggers` needs on MariaDB
/// 10.11, granted on `*.*` (measured: each one removed breaks the dump of the test database):
/// - SELECT: table data; and, *globally*, `mysql.proc`, without which `--routines` silently
///   dumps no procedures or functions (exit 0, nothing on stderr);
/// - SHOW VIEW: `SHOW CREATE VIEW` (without it: error 1142, exit 2);
/// - TRIGGER: `SHOW CREATE TRIGGER`; without it triggers are silently left out (exit 0);
/// - EVENT: `SHOW EVENTS` for `--events` (without it: error 1044, exit 2);
/// - LOCK TABLES: only for a dump without `--single-transaction` (e.g. MyISAM-only servers).
///
/// Not needed for this command on 10.11: PROCESS (no tablespace error), RELOAD (only
/// `--master-data`, `--flush-logs`, `--lock-all-tables` flush tables), BINLOG MONITOR (only
/// `--master-data`/`--dump-slave` positions). Leaving them out keeps the tests honest about a
/// least-privilege production account.
pub const BACKUP_PRIVILEGES: &str = "SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES";

/// The seed [`MariaDb::seed`] uses (the default of `simdondar-testdb`).
pub const DEFAULT_SEED: u64 = 1;

/// A running private MariaDB server; see the module documentation.
pub struct MariaDb {
    /// Holds datadir, socket, logs; removed on drop (after the server is gone).
    dir: tempfile::TempDir,
    datadir: PathBuf,
    socket: PathBuf,
    error_log: PathBuf,
    port: u16,
    /// The account the helper's own client calls use (`root`, by unix_socket).
    admin_user: String,
    client: PathBuf,
    child: Option<Child>,
}

impl MariaDb {
    /// Installs a fresh data directory and starts the server; returns once it answers queries.
    pub fn start() -> MariaDb {
        let install_db = tool("mariadb-install-db");
        let mariadbd = tool("mariadbd");
        let client = tool("mariadb");

        let dir = make_tempdir();
        let datadir = dir.path().join("data");
        let socket = dir.path().join("mariadbd.sock");
        let error_log = dir.path().join("error.log");
        let tmpdir = dir.path().join("tmp");
        std::fs::create_dir(&tmpdir).expect("create the server's tmpdir");

        // As root, both tools refuse to run without --user; the server then runs as root (it
        // is a throw-away server in a private directory). root@localhost authenticates by
        // unix_socket: the OS user running the client must have the same name.
        let is_root = unsafe { libc::geteuid() } == 0;
        let admin_user = if is_root {
            "root".to_string()
        } else {
            std::env::var("USER").unwrap_or_else(|_| "root".to_string())
        };

        let mut install = Command::new(&install_db);
        install
            .arg("--no-defaults")
            .arg(format!("--datadir={}", datadir.display()))
            .arg("--auth-root-authentication-method=socket")
            .arg("--skip-test-db")
            .arg("--skip-name-resolve")
            // The bootstrap server's temporary tables in its own directory, not the shared /tmp
            // (seen: "Could not remove temporary table '/tmp/#sql-temptable-…', error: 2", the
            // install failing while other tests ran).
            .arg(format!("--tmpdir={}", tmpdir.display()));
        if is_root {
            install.arg("--user=root");
        }
        let out = install
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}; {INSTALL_HINT}", install_db.display()));
        if !out.status.success() {
            panic!(
                "{} failed ({}):\n{}{}",
                install_db.display(),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }

        let mut db = MariaDb {
            dir,
            datadir,
            socket,
            error_log,
            port: 0,
            admin_user,
            client,
            child: None,
        };

        // A free port can be taken by someone else between our probe and the server's bind:
        // then try another one.
        for attempt in 1..=5 {
            db.port = free_port();
            let mut cmd = Command::new(&mariadbd);
            cmd.arg("--no-defaults")
                .arg(format!("--datadir={}", db.datadir.display()))
                .arg(format!("--socket={}", db.socket.display()))
                .arg(format!("--port={}", db.port))
                .arg("--bind-address=127.0.0.1")
                .arg("--skip-name-resolve")
                .arg("--skip-log-bin")
                .arg(format!("--log-error={}", db.error_log.display()))
                .arg(format!(
                    "--pid-file={}",
                    db.dir.path().join("mariadbd.pid").display()
                ))
                .arg(format!("--tmpdir={}", tmpdir.display()))
                .arg("--max-allowed-packet=1G")
                .arg("--innodb-buffer-pool-size=256M")
                .arg("--innodb-log-file-size=256M")
                // A throw-away server: durability against an OS crash is not needed.
                .arg("--innodb-flush-log-at-trx-commit=2")
                .arg("--innodb-doublewrite=0")
                .arg("--event-scheduler=OFF");
            if is_root {
                cmd.arg("--user=root");
            }
            let out = File::create(db.dir.path().join("mariadbd.out"))
                .expect("create the server's output file");
            let err = out.try_clone().expect("clone the server's output file");
            cmd.stdin(Stdio::null())
                .stdout(Stdio::from(out))
                .stderr(Stdio::from(err));
            let child = spawn_killed_with_process(cmd).unwrap_or_else(|e| {
                panic!("cannot start {}: {e}; {INSTALL_HINT}", mariadbd.display())
            });
            db.child = Some(child);
            match db.wait_ready() {
                Ok(()) => return db,
                Err(why) => {
                    db.kill();
                    let log = db.error_log_text();
                    if attempt < 5 && log.contains("Bind on TCP/IP port") {
                        let _ = std::fs::remove_file(&db.error_log);
                        continue;
                    }
                    panic!(
                        "the private MariaDB server did not come up: {why}\n\
                         --- error log {} ---\n{log}\n--- server output ---\n{}",
                        db.error_log.display(),
                        std::fs::read_to_string(db.dir.path().join("mariadbd.out"))
                            .unwrap_or_default()
                    );
                }
            }
        }
        unreachable!("the loop above returns or panics")
    }

    /// Waits until the server answers a query, it exits, or [`START_TIMEOUT`] passes.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        let mut last_err = String::new();
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!("mariadbd exited early with {status}"));
                }
            }
            if self.socket.exists() {
                let out = self
                    .client_command()
                    .args(["--connect-timeout=2", "-N", "-B", "-e", "SELECT 1"])
                    .stdin(Stdio::null())
                    .output();
                match out {
                    Ok(o) if o.status.success() => return Ok(()),
                    Ok(o) => last_err = String::from_utf8_lossy(&o.stderr).into_owned(),
                    Err(e) => last_err = e.to_string(),
                }
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "no answer within {} s (last client error: {last_err})",
                    START_TIMEOUT.as_secs()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The server's Unix socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The server's TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's data directory.
    pub fn datadir(&self) -> &Path {
        &self.datadir
    }

    /// The temporary directory holding everything of this server.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's error log, as far as it is written.
    pub fn error_log_text(&self) -> String {
        std::fs::read_to_string(&self.error_log).unwrap_or_default()
    }

    /// The pid of the running server, if it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `mariadb --no-defaults -u<admin> --socket=… --default-character-set=utf8mb4`, ready for
    /// more arguments: the helper's own client calls, as the server's administrator.
    pub fn client_command(&self) -> Command {
        let mut cmd = Command::new(&self.client);
        cmd.arg("--no-defaults")
            .arg(format!("-u{}", self.admin_user))
            .arg(format!("--socket={}", self.socket.display()))
            .arg("--default-character-set=utf8mb4");
        cmd
    }

    /// Runs `query` (one or more statements) as the administrator in batch mode (`-N -B`) and
    /// returns stdout: one line per row, columns separated by tabs, NULL as `NULL`, and tab,
    /// newline and backslash inside values escaped as `\t`, `\n`, `\\`. Panics with stderr when
    /// the client fails.
    pub fn sql(&self, query: &str) -> String {
        let out = self
            .client_command()
            .args(["-N", "-B", "-e", query])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run the mariadb client: {e}; {INSTALL_HINT}"));
        check_output("mariadb", &out, query);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Pipes an SQL file (a dump, or `simdondar-testdb` output) into the client.
    pub fn load_sql(&self, sql_file: &Path) {
        let file = File::open(sql_file)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", sql_file.display()));
        let out = self
            .load_command()
            .stdin(Stdio::from(file))
            .output()
            .unwrap_or_else(|e| panic!("cannot run the mariadb client: {e}; {INSTALL_HINT}"));
        check_output("mariadb", &out, &format!("< {}", sql_file.display()));
    }

    /// Pipes SQL from a reader into the client.
    pub fn load_sql_from_reader(&self, mut r: impl Read) {
        let mut child = self
            .load_command()
            .stdin(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run the mariadb client: {e}; {INSTALL_HINT}"));
        let mut stdin = child.stdin.take().expect("the client's stdin is piped");
        // stdout and stderr are drained by `wait_with_output`'s threads only after the copy, so
        // they go to pipes read concurrently here.
        let copied = std::thread::scope(|s| {
            let mut stdout = child.stdout.take().expect("piped stdout");
            let mut stderr = child.stderr.take().expect("piped stderr");
            let o = s.spawn(move || {
                let mut v = Vec::new();
                let _ = stdout.read_to_end(&mut v);
                v
            });
            let e = s.spawn(move || {
                let mut v = Vec::new();
                let _ = stderr.read_to_end(&mut v);
                v
            });
            let copied = io::copy(&mut r, &mut stdin).and_then(|_| stdin.flush());
            drop(stdin);
            (
                copied,
                o.join().unwrap_or_default(),
                e.join().unwrap_or_default(),
            )
        });
        let status = child.wait().expect("wait for the mariadb client");
        let (copied, stdout, stderr) = copied;
        let out = Output {
            status,
            stdout,
            stderr,
        };
        check_output("mariadb", &out, "SQL from a reader");
        if let Err(e) = copied {
            panic!("feeding SQL to the mariadb client failed: {e}");
        }
    }

    /// Loads the `simdondar-testdb` database (`pmi`, `sms`, `wagw`) at this scale and the
    /// default seed.
    pub fn seed(&self, scale_mb: u64) {
        self.seed_with(scale_mb, DEFAULT_SEED);
    }

    /// Loads the `simdondar-testdb` database at this scale and seed.
    pub fn seed_with(&self, scale_mb: u64, seed: u64) {
        let bin = env!("CARGO_BIN_EXE_simdondar-testdb");
        let mut gen = Command::new(bin)
            .args([
                "--scale-mb",
                &scale_mb.to_string(),
                "--seed",
                &seed.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {bin}: {e}"));
        let sql = gen.stdout.take().expect("piped stdout");
        let out = self
            .load_command()
            .stdin(Stdio::from(sql))
            .output()
            .unwrap_or_else(|e| panic!("cannot run the mariadb client: {e}; {INSTALL_HINT}"));
        let gen_out = gen.wait_with_output().expect("wait for simdondar-testdb");
        check_output(
            "mariadb",
            &out,
            &format!("simdondar-testdb --scale-mb {scale_mb} --seed {seed}"),
        );
        check_output("simdondar-testdb", &gen_out, "");
    }

    /// The client as used to load SQL: big packets, and `--binary-mode` so that a dump is
    /// read byte for byte (no `\r\n` translation, NUL allowed; `DELIMITER` still works).
    fn load_command(&self) -> Command {
        let mut cmd = self.client_command();
        cmd.args(["--max-allowed-packet=1G", "--binary-mode", "--batch"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Creates `user` with `password` at `localhost` (socket) and at `127.0.0.1` (TCP: the
    /// server skips name resolution, so a TCP client from 127.0.0.1 never matches `localhost`),
    /// replacing any earlier account of that name, with [`BACKUP_PRIVILEGES`] on `*.*`.
    pub fn create_backup_user(&self, user: &str, password: &str) {
        self.create_user_with_privileges(user, password, BACKUP_PRIVILEGES);
    }

    /// Like [`MariaDb::create_backup_user`] with other privileges (e.g. `"SELECT"` to see how
    /// the agent copes with a user that lacks some), granted on `*.*`.
    pub fn create_user_with_privileges(&self, user: &str, password: &str, privileges: &str) {
        let u = sql_string(user);
        let p = sql_string(password);
        let mut q = String::new();
        for host in ["localhost", "127.0.0.1"] {
            q.push_str(&format!(
                "CREATE OR REPLACE USER {u}@'{host}' IDENTIFIED BY {p};\n\
                 GRANT {privileges} ON *.* TO {u}@'{host}';\n"
            ));
        }
        self.sql(&q);
    }

    /// `CHECKSUM TABLE … EXTENDED` of every base table of `db`: table name → checksum.
    pub fn table_checksums(&self, db: &str) -> BTreeMap<String, String> {
        let tables = self.base_tables(db);
        if tables.is_empty() {
            return BTreeMap::new();
        }
        let list: Vec<String> = tables
            .iter()
            .map(|t| format!("{}.{}", ident(db), ident(t)))
            .collect();
        let out = self.sql(&format!("CHECKSUM TABLE {} EXTENDED", list.join(", ")));
        let prefix = format!("{db}.");
        out.lines()
            .map(|line| {
                let (name, sum) = line
                    .split_once('\t')
                    .unwrap_or_else(|| panic!("unexpected CHECKSUM TABLE line {line:?}"));
                let name = name.strip_prefix(&prefix).unwrap_or(name);
                (name.to_string(), sum.to_string())
            })
            .collect()
    }

    /// Exact row counts (`SELECT COUNT(*)`) of every base table of `db`.
    pub fn row_counts(&self, db: &str) -> BTreeMap<String, u64> {
        let tables = self.base_tables(db);
        if tables.is_empty() {
            return BTreeMap::new();
        }
        let q: Vec<String> = tables
            .iter()
            .map(|t| {
                format!(
                    "SELECT {}, COUNT(*) FROM {}.{}",
                    sql_string(t),
                    ident(db),
                    ident(t)
                )
            })
            .collect();
        let out = self.sql(&q.join(" UNION ALL "));
        out.lines()
            .map(|line| {
                let (t, n) = line
                    .split_once('\t')
                    .unwrap_or_else(|| panic!("unexpected COUNT line {line:?}"));
                (t.to_string(), n.parse().expect("a row count"))
            })
            .collect()
    }

    /// Base tables of `db`, sorted.
    pub fn base_tables(&self, db: &str) -> Vec<String> {
        self.names(&format!(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = {} \
             AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
            sql_string(db)
        ))
    }

    /// Stored procedures and functions of `db`, sorted by name.
    pub fn routines(&self, db: &str) -> Vec<String> {
        self.names(&format!(
            "SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = {} \
             ORDER BY ROUTINE_NAME",
            sql_string(db)
        ))
    }

    /// Triggers of `db`, sorted by name.
    pub fn triggers(&self, db: &str) -> Vec<String> {
        self.names(&format!(
            "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = {} \
             ORDER BY TRIGGER_NAME",
            sql_string(db)
        ))
    }

    /// Views of `db`, sorted by name.
    pub fn views(&self, db: &str) -> Vec<String> {
        self.names(&format!(
            "SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = {} \
             ORDER BY TABLE_NAME",
            sql_string(db)
        ))
    }

    /// Events of `db`, sorted by name.
    pub fn events(&self, db: &str) -> Vec<String> {
        self.names(&format!(
            "SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = {} \
             ORDER BY EVENT_NAME",
            sql_string(db)
        ))
    }

    fn names(&self, query: &str) -> Vec<String> {
        self.sql(query).lines().map(str::to_string).collect()
    }

    /// `mariadb-dump --single-transaction --routines --events --triggers --hex-blob
    /// --default-character-set=utf8mb4 --databases …` as the administrator: the reference
    /// dump to compare the agent's work against. Panics unless it succeeds cleanly.
    pub fn dump(&self, databases: &[&str]) -> Vec<u8> {
        let dump = tool("mariadb-dump");
        let out = Command::new(&dump)
            .arg("--no-defaults")
            .arg(format!("-u{}", self.admin_user))
            .arg(format!("--socket={}", self.socket.display()))
            .args([
                "--single-transaction",
                "--routines",
                "--events",
                "--triggers",
                "--hex-blob",
                "--default-character-set=utf8mb4",
                "--max-allowed-packet=1G",
                "--databases",
            ])
            .args(databases)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}; {INSTALL_HINT}", dump.display()));
        check_output("mariadb-dump", &out, &databases.join(" "));
        assert!(
            out.stderr.is_empty(),
            "mariadb-dump wrote to stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// Clean shutdown (SIGTERM, then waits; SIGKILL after [`STOP_TIMEOUT`]). Idempotent.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(None) = child.try_wait() {
            // SAFETY: kill(2) on the pid of our own child, which has not been reaped yet.
            unsafe {
                libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
            }
            let deadline = Instant::now() + STOP_TIMEOUT;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
        }
        let _ = child.wait();
    }

    /// Kills the server at once (SIGKILL), as a crash or power cut would. Idempotent.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        // The data is thrown away with the directory: no need for a clean shutdown.
        self.kill();
    }
}

/// A MariaDB string literal.
fn sql_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            '\0' => out.push_str("\\0"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\u{1a}' => out.push_str("\\Z"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// A MariaDB quoted identifier.
fn ident(s: &str) -> String {
    format!("`{}`", s.replace('`', "``"))
}

fn check_output(what: &str, out: &Output, context: &str) {
    if !out.status.success() {
        panic!(
            "{what} failed ({}) on {context}:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Finds an executable in PATH or the usual sbin/bin directories (mariadbd is in /usr/sbin,
/// which a non-login PATH may lack).
fn tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let extra = [
        "/usr/sbin",
        "/usr/bin",
        "/usr/local/sbin",
        "/usr/local/bin",
        "/sbin",
        "/bin",
    ];
    std::env::split_paths(&path)
        .chain(extra.iter().map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| {
            p.metadata()
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
        .unwrap_or_else(|| panic!("{name} not found in PATH or /usr/sbin; {INSTALL_HINT}"))
}

/// A temporary directory whose socket path fits `sun_path` (108 bytes).
fn make_tempdir() -> tempfile::TempDir {
    let base = std::env::temp_dir();
    let base = if base.as_os_str().len() <= 60 {
        base
    } else {
        PathBuf::from("/tmp")
    };
    tempfile::Builder::new()
        .prefix("simdondar-mariadb.")
        .tempdir_in(&base)
        .unwrap_or_else(|e| {
            panic!(
                "cannot create a temporary directory in {}: {e}",
                base.display()
            )
        })
}

/// A TCP port of 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0 to find a free port");
    l.local_addr().expect("local address").port()
}

type SpawnRequest = (Command, mpsc::Sender<io::Result<Child>>);

/// Spawns `cmd` from a thread that lives as long as the test process, with
/// `PR_SET_PDEATHSIG = SIGKILL`: the kernel kills the child when that thread, and so the
/// process, ends, even if no `Drop` runs. (The death signal follows the *thread* that forked,
/// which is why the spawning is not done by the short-lived test thread itself.)
pub fn spawn_killed_with_process(mut cmd: Command) -> io::Result<Child> {
    static SPAWNER: OnceLock<mpsc::Sender<SpawnRequest>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("mariadb-spawner".into())
            .spawn(move || {
                // The sender lives in a static, so this loop ends only with the process.
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .expect("start the mariadb-spawner thread");
        tx
    });
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure only calls async-signal-safe functions (prctl, getppid).
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died before prctl took effect.
            if libc::getppid() != parent {
                // No allocation between fork and exec: a plain errno.
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
    let (reply_tx, reply_rx) = mpsc::channel();
    spawner
        .send((cmd, reply_tx))
        .expect("the mariadb-spawner thread is alive");
    reply_rx.recv().expect("the mariadb-spawner thread answers")
}
