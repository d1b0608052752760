/*!
The restore test's throw-away MariaDB server: the programs it needs, its fresh directory under the
work directory (and what an earlier test left there), `mariadb-install-db` then `mariadbd` in the
sandbox, the load of the dump through a client, the table list and the counts, and its removal
whatever happens. Until the server answers, a backup that starts (its lock) stops the start-up
at once, as the watch does afterwards.
*/

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;

use crate::backup::busy;
use crate::backup::restore::{self, RestoreError};
use crate::backup::sandbox::{self, Identity, Limits};

use super::{RestoreTestError, TableName, MAX_SOCKET_PATH, START_TIMEOUT, STDERR_KEEP};

/// The MariaDB programs.
pub(super) struct Tools {
    install_db: PathBuf,
    server: PathBuf,
    client: PathBuf,
}

impl Tools {
    pub(super) fn find() -> Result<Tools, RestoreTestError> {
        let dirs = search_dirs();
        Ok(Tools {
            install_db: find_in(&["mariadb-install-db", "mysql_install_db"], &dirs)?,
            server: find_in(&["mariadbd", "mysqld"], &dirs)?,
            client: find_in(&["mariadb", "mysql"], &dirs)?,
        })
    }
}

/// PATH, then the usual sbin and bin folders (`mariadbd` is in `/usr/sbin`, which a service's
/// PATH may lack).
pub(super) fn search_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    for d in [
        "/usr/sbin",
        "/usr/bin",
        "/usr/local/sbin",
        "/usr/local/bin",
        "/sbin",
        "/bin",
    ] {
        dirs.push(PathBuf::from(d));
    }
    dirs
}

/// The first of `names` found as an executable file in `dirs`.
pub(super) fn find_in(names: &[&str], dirs: &[PathBuf]) -> Result<PathBuf, RestoreTestError> {
    for name in names {
        for d in dirs {
            let p = d.join(name);
            if let Ok(m) = std::fs::metadata(&p) {
                if m.is_file() && m.permissions().mode() & 0o111 != 0 {
                    return Ok(p);
                }
            }
        }
    }
    Err(RestoreTestError::ToolMissing {
        tool: names.first().copied().unwrap_or("mariadb").to_string(),
    })
}

/// What loading the dump amounted to.
pub(super) struct Load {
    /// The restore's verdict (checksums, decompression, size).
    pub(super) restore: Result<restore::Restored, RestoreError>,
    /// Bytes of the dump that reached the client.
    pub(super) bytes_sent: u64,
    /// The client's exit status and stderr.
    pub(super) client: ExitStatus,
    pub(super) stderr: String,
}

/// Counts what is written through it.
pub(super) struct Counting<W> {
    inner: W,
    n: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The account the dump is loaded as: everything a `mariadb-dump` needs (tables, views,
/// routines, triggers, events, and `SET USER` for their `DEFINER`s), nothing that reaches files
/// or the server's settings (no `FILE`, `SUPER`, `PROCESS`, `RELOAD`, `SHUTDOWN`, `CREATE USER`,
/// grant option). The administrator accounts are cut down to `SELECT` before the load, so that a
/// routine whose definer is `root` gains nothing either.
pub(super) const LOADER: &str = "loader";
pub(super) const LOADER_GRANTS: &str =
    "SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, REFERENCES, INDEX, \
     ALTER, CREATE TEMPORARY TABLES, LOCK TABLES, EXECUTE, CREATE VIEW, SHOW VIEW, \
     CREATE ROUTINE, ALTER ROUTINE, EVENT, TRIGGER, SET USER";

/// How long a server that stopped answering is given to exit, so that its end says why.
pub(super) const DEATH_GRACE: Duration = Duration::from_secs(2);

/// The throw-away server: its directory and process. Dropping it kills the server and removes
/// the directory.
pub(super) struct Scratch {
    pub(super) dir: PathBuf,
    socket: PathBuf,
    error_log: PathBuf,
    client: PathBuf,
    /// The administrator account (`root`, by unix_socket as the OS user of the same name; the
    /// agent's own user when it is not root). Only the agent's own queries use it.
    user: String,
    /// Who the server and the loading client run as.
    who: Identity,
    limits: Limits,
    /// The loading client's option file (the loader account and its password), 0600, the
    /// sandbox user's.
    loader_cnf: PathBuf,
    child: Option<Child>,
    /// Held for the test's life: a directory whose lock can be taken is left over
    /// ([`remove_stale`]), whatever process now has the pid in its name.
    _lock: Option<nix::fcntl::Flock<File>>,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Scratch {
    /// Creates the directory, installs a data directory and starts the server as the sandbox
    /// user, confined; creates the loader account; returns once it answers. With `yield_to`,
    /// gives way ([`RestoreTestError::Yielded`]) as soon as a backup takes that lock.
    pub(super) fn start(
        tools: &Tools,
        work_dir: &Path,
        who: &Identity,
        limits: &Limits,
        yield_to: Option<&busy::Probe>,
    ) -> Result<Scratch, RestoreTestError> {
        let stamp = Utc::now().timestamp_nanos_opt().unwrap_or_default();
        let dir = work_dir.join(format!("{DIR_PREFIX}{}-{stamp}", std::process::id()));
        let work_err = |e: io::Error| RestoreTestError::WorkDir {
            path: work_dir.to_path_buf(),
            detail: e.to_string(),
        };
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(work_err)?;
        let lock = File::create(dir.join(LOCK_FILE))
            .map_err(work_err)
            .and_then(|f| {
                nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock)
                    .map_err(|(_, e)| work_err(io::Error::from(e)))
            });
        let lock = match lock {
            Ok(l) => l,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        let user = if who.switch {
            "root".to_string()
        } else {
            who.name.clone()
        };
        // From here on the guard removes the directory whatever happens.
        let mut s = Scratch {
            socket: dir.join("s.sock"),
            error_log: dir.join("error.log"),
            loader_cnf: dir.join("loader.cnf"),
            client: tools.client.clone(),
            user,
            who: who.clone(),
            limits: *limits,
            child: None,
            _lock: Some(lock),
            dir,
        };
        if s.socket.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(RestoreTestError::WorkDir {
                path: work_dir.to_path_buf(),
                detail: format!(
                    "its path is too long for the server's Unix socket ({} bytes, at most {MAX_SOCKET_PATH}); use a shorter work directory",
                    s.socket.as_os_str().len()
                ),
            });
        }
        let datadir = s.dir.join("data");
        let tmpdir = s.dir.join("tmp");
        // The only folder the server may read or write files in (`secure_file_priv`), and an
        // empty plugin folder: no `CREATE FUNCTION … SONAME` or `INSTALL SONAME` finds a library.
        let files = s.dir.join("files");
        let plugins = s.dir.join("plugins");
        for d in [&tmpdir, &files, &plugins] {
            std::fs::create_dir(d).map_err(work_err)?;
        }
        for p in [&s.dir, &tmpdir, &files] {
            who.own(p).map_err(work_err)?;
        }

        let mut install = Command::new(&tools.install_db);
        install
            .arg("--no-defaults")
            .arg(format!("--datadir={}", datadir.display()))
            .arg("--auth-root-authentication-method=socket")
            // The administrator is the agent's user; no account for the sandbox user.
            .arg(format!("--auth-root-socket-user={}", s.user))
            .arg("--skip-test-db")
            .arg("--skip-name-resolve")
            // Its bootstrap server's temporary tables too: never the shared /tmp, where anything
            // else on the machine may clean up under it.
            .arg(format!("--tmpdir={}", tmpdir.display()));
        who.confine(&mut install, &s.dir, limits.cpu_seconds, limits.disk);
        let install_log = s.dir.join("install-db.out");
        let status =
            run_giving_way(&mut install, &install_log, START_TIMEOUT, yield_to).map_err(|e| {
                RestoreTestError::Spawn {
                    tool: tools.install_db.display().to_string(),
                    detail: e.to_string(),
                }
            })?;
        let text = std::fs::read(&install_log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        match status {
            Ended::Exited(st) if st.success() => {}
            Ended::Exited(st) => {
                return Err(RestoreTestError::InstallDb {
                    detail: format!("{}: {}", describe_status(&st), last_lines(&text, 20)),
                })
            }
            Ended::Yielded => return Err(RestoreTestError::Yielded),
            Ended::TimedOut => {
                return Err(RestoreTestError::InstallDb {
                    detail: format!(
                        "it did not finish within {} s and was stopped: {}",
                        START_TIMEOUT.as_secs(),
                        last_lines(&text, 20)
                    ),
                })
            }
        }

        let mut cmd = Command::new(&tools.server);
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", datadir.display()))
            .arg(format!("--socket={}", s.socket.display()))
            .arg("--skip-networking")
            .arg("--skip-name-resolve")
            .arg("--skip-log-bin")
            .arg("--skip-slave-start")
            // OFF, not DISABLED: with DISABLED the dump's CREATE EVENT fails (error 1577). OFF loads
            // the events but never runs them, so none can change the rows being counted.
            .arg("--event-scheduler=OFF")
            .arg(format!("--secure-file-priv={}", files.display()))
            .arg(format!("--plugin-dir={}", plugins.display()))
            .arg("--local-infile=0")
            // DATA/INDEX DIRECTORY are ignored (with a warning): no table file outside the
            // data directory, where neither secure_file_priv nor the watch would see it.
            .arg("--skip-symbolic-links")
            .arg("--max-connections=8")
            .arg(format!("--log-error={}", s.error_log.display()))
            .arg(format!(
                "--pid-file={}",
                s.dir.join("mariadbd.pid").display()
            ))
            .arg(format!("--tmpdir={}", tmpdir.display()))
            .arg("--max-allowed-packet=1G")
            .arg("--innodb-buffer-pool-size=128M")
            // Thrown away afterwards: durability against a crash is not needed.
            .arg("--innodb-flush-log-at-trx-commit=0")
            .arg("--innodb-doublewrite=0");
        let output = File::create(s.dir.join("mariadbd.out")).map_err(work_err)?;
        let output2 = output.try_clone().map_err(work_err)?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(output))
            .stderr(Stdio::from(output2));
        // The server dies with the thread that started it (PR_SET_PDEATHSIG): this one, which
        // waits for it (restore_test is synchronous).
        who.confine(&mut cmd, &s.dir, limits.cpu_seconds, limits.disk);
        let child = cmd.spawn().map_err(|e| RestoreTestError::Spawn {
            tool: tools.server.display().to_string(),
            detail: e.to_string(),
        })?;
        sandbox::oom_first(child.id());
        s.child = Some(child);
        s.wait_ready(yield_to)?;
        s.create_loader()?;
        Ok(s)
    }

    /// The server's process id (0 once it has ended).
    pub(super) fn pid(&self) -> i32 {
        self.child
            .as_ref()
            .map(|c| c.id() as i32)
            .unwrap_or_default()
    }

    /// Creates the loader account with a random password and writes the client's option file.
    pub(super) fn create_loader(&self) -> Result<(), RestoreTestError> {
        let password = random_hex(16).map_err(|e| RestoreTestError::WorkDir {
            path: self.dir.clone(),
            detail: format!("no random password for the loader account: {e}"),
        })?;
        let cnf = format!(
            "[client]\nuser={LOADER}\npassword={password}\nsocket={}\nprotocol=SOCKET\n",
            self.socket.display()
        );
        let work_err = |e: io::Error| RestoreTestError::WorkDir {
            path: self.loader_cnf.clone(),
            detail: e.to_string(),
        };
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&self.loader_cnf)
            .map_err(work_err)?;
        f.write_all(cnf.as_bytes()).map_err(work_err)?;
        drop(f);
        self.who.own(&self.loader_cnf).map_err(work_err)?;
        // The dump may name any account as a definer (`SET USER`), and a definer's routine runs
        // with that account's privileges: so no account keeps FILE or SUPER while it loads. The
        // administrators keep SELECT, enough to list and count the tables (this session keeps its
        // own privileges until it ends; new ones get only these).
        let admin = self.user.replace('\'', "''");
        let mut sql = format!(
            "CREATE USER '{LOADER}'@'localhost' IDENTIFIED BY '{password}';\n\
             GRANT {LOADER_GRANTS} ON *.* TO '{LOADER}'@'localhost';\n\
             REVOKE ALL PRIVILEGES, GRANT OPTION FROM 'root'@'localhost';\n"
        );
        if admin != "root" {
            sql.push_str(&format!(
                "REVOKE ALL PRIVILEGES, GRANT OPTION FROM '{admin}'@'localhost';\n"
            ));
        }
        sql.push_str(&format!("GRANT SELECT ON *.* TO '{admin}'@'localhost';\n"));
        let (_, err, status) = self.query(sql.as_bytes(), false)?;
        if !status.success() {
            return Err(RestoreTestError::Query {
                detail: format!("creating the loader account: {}", first_lines(&err, 3)),
            });
        }
        Ok(())
    }

    /// `mariadb --no-defaults --protocol=SOCKET --socket=… -u<admin>`: only ever this server.
    pub(super) fn client(&self) -> Command {
        let mut c = Command::new(&self.client);
        c.arg("--no-defaults")
            .arg("--protocol=SOCKET")
            .arg(format!("--socket={}", self.socket.display()))
            .arg(format!("-u{}", self.user))
            .arg("--default-character-set=utf8mb4");
        c
    }

    /// The client that feeds the untrusted dump: the sandbox user, the loader account from its
    /// option file (no other option file), `--sandbox` (no `\!` shell escape, no `source`, no
    /// `tee`), no `LOAD DATA LOCAL`, binary mode, confined like the server.
    pub(super) fn loading_client(&self) -> Command {
        let mut c = Command::new(&self.client);
        c.arg(format!("--defaults-file={}", self.loader_cnf.display()))
            .arg("--sandbox")
            .arg("--local-infile=0")
            .arg("--default-character-set=utf8mb4")
            .args(["--max-allowed-packet=1G", "--binary-mode", "--batch"]);
        self.who
            .confine(&mut c, &self.dir, self.limits.cpu_seconds, 0);
        c
    }

    /// When the server was killed by the kernel for its CPU time (`SIGXCPU`/`SIGKILL` at the
    /// hard limit), the sentence that says so.
    /// Whether the server was killed for its CPU time (or by the kernel's OOM killer), waiting
    /// up to `grace` for it to exit.
    pub(super) fn died_of_cpu_limit(
        &mut self,
        cpu_seconds: u64,
        grace: Duration,
    ) -> Option<String> {
        use std::os::unix::process::ExitStatusExt;
        let child = self.child.as_mut()?;
        let deadline = Instant::now() + grace;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => return None,
            }
        };
        self.child = None;
        let sig = status.signal()?;
        match sig {
            libc::SIGXCPU => Some(format!(
                "the restore test was stopped: the test server used up its {cpu_seconds} s of CPU time"
            )),
            libc::SIGKILL => Some(format!(
                "the restore test was stopped: the kernel killed the test server (its {cpu_seconds} s of CPU time ran out, or memory did)"
            )),
            _ => None,
        }
    }

    pub(super) fn wait_ready(
        &mut self,
        yield_to: Option<&busy::Probe>,
    ) -> Result<(), RestoreTestError> {
        let deadline = Instant::now() + START_TIMEOUT;
        let mut last = String::new();
        loop {
            if yield_to.is_some_and(busy::Probe::busy) {
                self.stop();
                return Err(RestoreTestError::Yielded);
            }
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Err(RestoreTestError::ServerStart {
                        detail: format!("mariadbd exited ({})", describe_status(&status)),
                        log: self.log_tail(),
                    });
                }
            }
            if self.socket.exists() {
                match self
                    .client()
                    .args(["--connect-timeout=5", "-N", "-B", "-e", "SELECT 1"])
                    .stdin(Stdio::null())
                    .output()
                {
                    Ok(o) if o.status.success() => return Ok(()),
                    Ok(o) => last = String::from_utf8_lossy(&o.stderr).trim().to_string(),
                    Err(e) => {
                        return Err(RestoreTestError::Spawn {
                            tool: self.client.display().to_string(),
                            detail: e.to_string(),
                        })
                    }
                }
            }
            if Instant::now() >= deadline {
                return Err(RestoreTestError::ServerStart {
                    detail: format!(
                        "no answer within {} s{}",
                        START_TIMEOUT.as_secs(),
                        if last.is_empty() {
                            String::new()
                        } else {
                            format!(" (last client error: {last})")
                        }
                    ),
                    log: self.log_tail(),
                });
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub(super) fn log_tail(&self) -> String {
        last_lines(
            &std::fs::read_to_string(&self.error_log).unwrap_or_default(),
            30,
        )
    }

    /// Pipes the checked, decompressed dump into the client.
    pub(super) fn load(&self, data: &Path) -> Result<Load, RestoreTestError> {
        let mut child = self
            .loading_client()
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| RestoreTestError::Spawn {
                tool: self.client.display().to_string(),
                detail: e.to_string(),
            })?;
        // A huge statement is buffered by the client too: it goes before the agent, never after.
        sandbox::oom_first(child.id());
        let stdin = child.stdin.take();
        let stderr = child.stderr.take();
        let (restored, sent, err_text) = std::thread::scope(|scope| {
            let err_reader = scope.spawn(move || read_kept(stderr));
            let (restored, sent) = match stdin {
                Some(stdin) => {
                    let mut out = Counting { inner: stdin, n: 0 };
                    let r = restore::restore(data, None, &mut out);
                    // Dropping stdin ends the client's input.
                    (r, out.n)
                }
                None => (
                    Err(RestoreError::Output {
                        detail: "the client's standard input is not available".into(),
                    }),
                    0,
                ),
            };
            (restored, sent, err_reader.join().unwrap_or_default())
        });
        let status = child.wait().map_err(|e| RestoreTestError::Spawn {
            tool: self.client.display().to_string(),
            detail: e.to_string(),
        })?;
        Ok(Load {
            restore: restored,
            bytes_sent: sent,
            client: status,
            stderr: err_text,
        })
    }

    /// Runs SQL given on stdin in batch mode; stdout, or the client's error.
    pub(super) fn query(
        &self,
        sql: &[u8],
        force: bool,
    ) -> Result<(String, String, ExitStatus), RestoreTestError> {
        let mut cmd = self.client();
        cmd.args(["-N", "-B"]);
        if force {
            cmd.arg("--force");
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| RestoreTestError::Spawn {
                tool: self.client.display().to_string(),
                detail: e.to_string(),
            })?;
        let stdin = child.stdin.take();
        // Written from a thread while the output is read: a client blocked on a full stdout
        // stops reading its input.
        let (written, out) = std::thread::scope(|scope| {
            let w = scope.spawn(move || match stdin {
                Some(mut s) => s.write_all(sql),
                None => Err(io::Error::other("no stdin")),
            });
            let out = child.wait_with_output();
            let written = w
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("writer panicked")));
            (written, out)
        });
        let out = out.map_err(|e| RestoreTestError::Spawn {
            tool: self.client.display().to_string(),
            detail: e.to_string(),
        })?;
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if let Err(e) = written {
            return Err(RestoreTestError::Query {
                detail: format!("{e}; {}", first_lines(&stderr, 3)),
            });
        }
        Ok((
            String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr,
            out.status,
        ))
    }

    /// Every base table outside the server's own schemas, as `(schema, name)` bytes.
    pub(super) fn tables(&self) -> Result<Vec<TableName>, RestoreTestError> {
        let (out, err, status) = self.query(
            b"SELECT HEX(TABLE_SCHEMA), HEX(TABLE_NAME) FROM information_schema.TABLES \
              WHERE TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED') \
              AND TABLE_SCHEMA NOT IN ('information_schema', 'performance_schema', 'sys', 'mysql') \
              ORDER BY 1, 2;\n",
            false,
        )?;
        if !status.success() {
            return Err(RestoreTestError::Query {
                detail: first_lines(&err, 5),
            });
        }
        let mut v = Vec::new();
        for line in out.lines() {
            let parsed = line.split_once('\t').and_then(|(s, t)| {
                Some((crate::util::hex::unhex(s)?, crate::util::hex::unhex(t)?))
            });
            match parsed {
                Some(p) => v.push(p),
                None => {
                    return Err(RestoreTestError::Query {
                        detail: format!("unexpected line {line:?} in the list of tables"),
                    })
                }
            }
        }
        Ok(v)
    }

    /// `COUNT(*)` of each table; `None` where it failed.
    pub(super) fn count(&self, tables: &[TableName]) -> Result<Vec<Option<u64>>, RestoreTestError> {
        if tables.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql = Vec::new();
        for (i, (s, t)) in tables.iter().enumerate() {
            sql.extend_from_slice(format!("SELECT {i}, COUNT(*) FROM ").as_bytes());
            push_ident(&mut sql, s);
            sql.push(b'.');
            push_ident(&mut sql, t);
            sql.extend_from_slice(b";\n");
        }
        let (out, _err, _status) = self.query(&sql, true)?;
        let mut counts = vec![None; tables.len()];
        for line in out.lines() {
            if let Some((i, n)) = line.split_once('\t') {
                if let (Ok(i), Ok(n)) = (i.parse::<usize>(), n.parse::<u64>()) {
                    if let Some(slot) = counts.get_mut(i) {
                        *slot = Some(n);
                    }
                }
            }
        }
        Ok(counts)
    }

    /// Kills the server (its data is thrown away) and waits for it. Idempotent.
    pub(super) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Creates the work directory and makes it passable for the sandbox user, whatever the umask
/// (the agent's is 0027): the work directory 0711, and the agent's own state directory, when the
/// work directory is in it, gains search permission for others (0751 as the package installs
/// it: others may pass through, never list or read). Folders the agent does not own are left as
/// they are; [`Identity::can_reach`] then names the one in the way.
/// How a start-up step that [`run_giving_way`] waited for ended.
#[derive(Debug)]
pub(super) enum Ended {
    Exited(ExitStatus),
    /// A backup took the lock: the step's processes were killed.
    Yielded,
    /// It did not end within its limit: its processes were killed.
    TimedOut,
}

/// Runs `cmd` in a process group of its own, its output (both streams) into the file `log`,
/// waiting at most `limit` and, with `yield_to`, only while no backup holds that lock. When it
/// gives up it kills the whole group (`mariadb-install-db` is a script whose bootstrap server
/// is its child) and reaps the command.
pub(super) fn run_giving_way(
    cmd: &mut Command,
    log: &Path,
    limit: Duration,
    yield_to: Option<&busy::Probe>,
) -> io::Result<Ended> {
    let out = File::create(log)?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(out.try_clone()?))
        .stderr(Stdio::from(out))
        .process_group(0);
    let mut child = cmd.spawn()?;
    let deadline = Instant::now() + limit;
    let ended = loop {
        if let Some(st) = child.try_wait()? {
            return Ok(Ended::Exited(st));
        }
        if yield_to.is_some_and(busy::Probe::busy) {
            break Ended::Yielded;
        }
        if Instant::now() >= deadline {
            break Ended::TimedOut;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let _ = child.kill();
    let _ = child.wait();
    Ok(ended)
}

pub(super) fn prepare_work_dir(work_dir: &Path, state_dir: Option<&Path>) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    std::fs::create_dir_all(work_dir)?;
    let me = nix::unistd::geteuid().as_raw();
    // Sets the mode `want` gives from the current one, on a folder of the agent's own.
    let set = |d: &Path, want: &dyn Fn(u32) -> u32| -> io::Result<()> {
        let m = std::fs::symlink_metadata(d)?;
        let mode = m.mode() & 0o7777;
        if m.is_dir() && m.uid() == me && want(mode) != mode {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(want(mode)))?;
        }
        Ok(())
    };
    set(work_dir, &|_| 0o711)?;
    if let Some(s) = state_dir.filter(|s| work_dir.parent() == Some(*s)) {
        set(s, &|mode| mode | 0o001)?;
    }
    Ok(())
}

/// `n` random bytes from the kernel, as hex.
pub(super) fn random_hex(n: usize) -> io::Result<String> {
    let mut b = vec![0u8; n];
    File::open("/dev/urandom")?.read_exact(&mut b)?;
    Ok(crate::util::hex(&b))
}

/// The prefix of the throw-away server's directory in the work directory.
pub(super) const DIR_PREFIX: &str = "restore-test-";

/// The lock file in a scratch directory, held while its test runs.
pub(super) const LOCK_FILE: &str = ".lock";

/// Removes directories left by restore tests that are over (the agent was killed or the power
/// cut; its server died with it through `PR_SET_PDEATHSIG`): those whose lock can be taken, or,
/// without a lock file, whose process is gone. Only names this module makes are touched; a pid
/// reused after a reboot keeps nothing alive.
pub(super) fn remove_stale(work_dir: &Path) {
    let Ok(rd) = std::fs::read_dir(work_dir) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some((pid, stamp)) = name
            .strip_prefix(DIR_PREFIX)
            .and_then(|rest| rest.split_once('-'))
        else {
            continue;
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(pid) || !digits(stamp) {
            continue;
        }
        let over = match File::open(e.path().join(LOCK_FILE)) {
            Ok(f) => {
                nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock).is_ok()
            }
            Err(_) => !Path::new("/proc").join(pid).exists(),
        };
        if !over {
            continue;
        }
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// A quoted identifier from raw bytes.
pub(super) fn push_ident(sql: &mut Vec<u8>, name: &[u8]) {
    sql.push(b'`');
    for &b in name {
        if b == b'`' {
            sql.push(b'`');
        }
        sql.push(b);
    }
    sql.push(b'`');
}

/// Reads a pipe to its end, keeping the first [`STDERR_KEEP`] bytes.
pub(super) fn read_kept(r: Option<impl Read>) -> String {
    let Some(mut r) = r else {
        return String::new();
    };
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let room = STDERR_KEEP.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
}

pub(super) fn describe_status(s: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (Some(c), _) => format!("exit status {c}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => s.to_string(),
    }
}

/// The client's error lines (`ERROR 1064 (42000) at line 6: …`), without the failed statement it
/// echoes in batch mode.
pub(super) fn client_error(stderr: &str) -> String {
    let errors: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("ERROR"))
        .take(3)
        .collect();
    if errors.is_empty() {
        first_lines(stderr, 5)
    } else {
        errors.join(" / ")
    }
}

pub(super) fn first_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(n)
        .collect();
    if lines.is_empty() {
        "no error message".to_string()
    } else {
        lines.join(" / ")
    }
}

pub(super) fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether process `pid` still runs (a zombie waiting for its reaper does not).
    fn alive(pid: i32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|st| st.rsplit(')').next().map(str::trim).map(str::to_string))
            .is_some_and(|rest| !rest.starts_with('Z') && !rest.starts_with('X'))
    }

    /// `sh` that starts a `sleep` of its own (as mariadb-install-db starts its bootstrap
    /// server), writes that child's pid to `pid_file` and waits.
    fn script_with_child(pid_file: &Path) -> Command {
        let mut c = Command::new("sh");
        c.arg("-c").arg(format!(
            "echo starting; sleep 60 & echo $! > {}; wait",
            pid_file.display()
        ));
        c
    }

    fn pid_in(file: &Path) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(p) = std::fs::read_to_string(file)
                .ok()
                .and_then(|t| t.trim().parse().ok())
            {
                return p;
            }
            assert!(Instant::now() < deadline, "the script wrote no pid");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn a_step_that_ends_gives_its_status_and_output() {
        let d = tempfile::tempdir().expect("tempdir");
        let log = d.path().join("out");
        let mut c = Command::new("sh");
        c.args(["-c", "echo to-stdout; echo to-stderr >&2; exit 3"]);
        match run_giving_way(&mut c, &log, Duration::from_secs(30), None) {
            Ok(Ended::Exited(st)) => assert_eq!(st.code(), Some(3)),
            other => panic!("expected the exit status, got {other:?}"),
        }
        let text = std::fs::read_to_string(&log).expect("log");
        assert!(
            text.contains("to-stdout") && text.contains("to-stderr"),
            "{text}"
        );
    }

    #[test]
    fn a_backup_starting_during_the_install_stops_it_and_its_child_at_once() {
        let d = tempfile::tempdir().expect("tempdir");
        let state = d.path().join("state");
        std::fs::create_dir(&state).expect("mkdir");
        let probe = busy::Probe::new(&state);
        let pid_file = d.path().join("pid");
        let waiter = {
            let (log, pid_file) = (d.path().join("out"), pid_file.clone());
            std::thread::spawn(move || {
                let started = Instant::now();
                let r = run_giving_way(
                    &mut script_with_child(&pid_file),
                    &log,
                    Duration::from_secs(120),
                    Some(&probe),
                );
                (r, started.elapsed())
            })
        };
        let grandchild = pid_in(&pid_file);
        assert!(alive(grandchild));
        let held = busy::hold(&state);
        let asked = Instant::now();
        let (r, _) = waiter.join().expect("thread");
        assert!(matches!(r, Ok(Ended::Yielded)), "{r:?}");
        assert!(
            asked.elapsed() < Duration::from_secs(5),
            "it gave way after {:?}",
            asked.elapsed()
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive(grandchild) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!alive(grandchild), "the step's own child was left running");
        drop(held);
    }

    #[test]
    fn a_step_that_hangs_is_stopped_at_its_limit() {
        let d = tempfile::tempdir().expect("tempdir");
        let pid_file = d.path().join("pid");
        let started = Instant::now();
        let r = run_giving_way(
            &mut script_with_child(&pid_file),
            &d.path().join("out"),
            Duration::from_millis(500),
            None,
        );
        assert!(matches!(r, Ok(Ended::TimedOut)), "{r:?}");
        assert!(started.elapsed() < Duration::from_secs(10));
        let grandchild = pid_in(&pid_file);
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive(grandchild) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!alive(grandchild), "the step's own child was left running");
    }

    #[test]
    fn waiting_for_the_server_gives_way_to_a_backup_and_stops_it() {
        let d = tempfile::tempdir().expect("tempdir");
        let state = d.path().join("state");
        std::fs::create_dir(&state).expect("mkdir");
        let dir = d.path().join("scratch");
        std::fs::create_dir(&dir).expect("mkdir");
        // A "server" that never opens its socket.
        let child = Command::new("sleep").arg("60").spawn().expect("sleep");
        let pid = i32::try_from(child.id()).expect("pid");
        let mut s = Scratch {
            socket: dir.join("s.sock"),
            error_log: dir.join("error.log"),
            loader_cnf: dir.join("loader.cnf"),
            client: PathBuf::from("/bin/false"),
            user: "root".into(),
            who: Identity {
                name: "nobody".into(),
                uid: nix::unistd::getuid(),
                gid: nix::unistd::getgid(),
                switch: false,
            },
            limits: Limits::for_dump(0),
            child: Some(child),
            _lock: None,
            dir: dir.clone(),
        };
        let _held = busy::hold(&state);
        let started = Instant::now();
        let r = s.wait_ready(Some(&busy::Probe::new(&state)));
        assert!(matches!(r, Err(RestoreTestError::Yielded)), "{r:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(!alive(pid), "the server was left running");
        drop(s);
        assert!(!dir.exists(), "the scratch directory was left behind");
    }
}
