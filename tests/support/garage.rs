//! A real Garage object store (S3 API) on loopback for the off-site tests (issue 16).
//!
//! [`Garage::single`] starts one node, [`Garage::cluster`] starts `n` nodes with replication
//! factor `n` (each node its own zone `z1`, `z2`, …; Garage's default consistency mode). Every
//! node listens on free ports of 127.0.0.1 (RPC, S3 API, admin API), keeps its metadata in SQLite
//! and its data in its own folders under the directory given, and logs to
//! `<dir>/node<i>/garage.log`. Once the layout is applied the harness creates one access key
//! and the bucket [`BUCKET`], on which that key may read and write (not owner).
//!
//! The nodes never outlive the [`Garage`]: drop kills them (SIGKILL), and if the test process
//! dies without dropping, the kernel kills them too (`PR_SET_PDEATHSIG`). Every wait is bounded
//! ([`START_TIMEOUT`]); a node that does not come up panics with the tail of its log.
//!
//! The server binary is not in Debian: `scripts/lib/provision.sh` builds the pinned version once
//! per machine and exports its path as `SIMDONDAR_GARAGE`; without the variable the harness
//! looks at [`DEFAULT_BINARY`].
#![allow(dead_code)]

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use std::time::{Duration, Instant};

use super::agent::{require_tool, show};

/// Where `provision_garage` puts the server when `SIMDONDAR_GARAGE` is not set.
pub const DEFAULT_BINARY: &str = "/var/cache/simdondar-test/garage-2.5.0/bin/garage";

const MISSING_HINT: &str = "the Garage server is missing: run `source scripts/lib/provision.sh && provision_garage` (builds it once, ~10 min)";

/// The bucket the harness creates.
pub const BUCKET: &str = "simdondar";

/// The S3 region the nodes are configured with.
pub const REGION: &str = "garage";

/// How long a node may take to answer after it was started (and the cluster to be healthy).
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long one admin command (`garage …`) may run before it is killed.
const CLI_TIMEOUT: Duration = Duration::from_secs(30);

/// The path of the Garage server, or a panic that says how to get it.
pub fn garage_binary() -> PathBuf {
    let path = std::env::var_os("SIMDONDAR_GARAGE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_BINARY));
    if !path.is_file() {
        panic!("{MISSING_HINT} (looked for {})", path.display());
    }
    path
}

struct Node {
    dir: PathBuf,
    config: PathBuf,
    log: PathBuf,
    rpc_port: u16,
    s3_port: u16,
    admin_port: u16,
    /// `<hex id>@127.0.0.1:<rpc port>`, known once the node ran.
    id: String,
    child: Option<Child>,
}

/// Running Garage nodes; see the module documentation.
pub struct Garage {
    dir: PathBuf,
    binary: PathBuf,
    nodes: Vec<Node>,
    rpc_secret: String,
    /// The admin API's bearer token (same on every node).
    pub admin_token: String,
    /// The key with read and write rights on [`BUCKET`].
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl Garage {
    /// One node, replication factor 1.
    pub fn single(dir: &Path) -> Garage {
        Garage::start(dir, 1)
    }

    /// `nodes` nodes, replication factor `nodes`, each node in its own zone.
    pub fn cluster(dir: &Path, nodes: usize) -> Garage {
        assert!(nodes >= 1, "a Garage cluster needs at least one node");
        Garage::start(dir, nodes)
    }

    fn start(dir: &Path, n: usize) -> Garage {
        let binary = garage_binary();
        std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        let mut g = Garage {
            dir: dir.to_path_buf(),
            binary,
            nodes: Vec::new(),
            rpc_secret: random_hex(32),
            admin_token: random_hex(32),
            access_key_id: String::new(),
            secret_access_key: String::new(),
        };
        for i in 0..n {
            let ndir = dir.join(format!("node{i}"));
            for sub in ["meta", "data"] {
                std::fs::create_dir_all(ndir.join(sub))
                    .unwrap_or_else(|e| panic!("create {}/{sub}: {e}", ndir.display()));
            }
            g.nodes.push(Node {
                config: ndir.join("garage.toml"),
                log: ndir.join("garage.log"),
                dir: ndir,
                rpc_port: 0,
                s3_port: 0,
                admin_port: 0,
                id: String::new(),
                child: None,
            });
        }
        for i in 0..n {
            g.first_start(i, n);
        }
        for i in 0..n {
            let out = g.cli_on(i, &["node", "id", "-q"]);
            let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
            assert!(
                out.status.success() && id.contains('@'),
                "garage node id on node {i}: {}",
                show(&out)
            );
            g.nodes[i].id = id;
        }
        for i in 1..n {
            let id = g.nodes[i].id.clone();
            g.cli_ok(&["node", "connect", &id]);
        }
        for i in 0..n {
            let short = g.nodes[i]
                .id
                .split('@')
                .next()
                .unwrap_or_default()
                .to_string();
            let zone = format!("z{}", i + 1);
            g.cli_ok(&["layout", "assign", "-z", &zone, "-c", "1G", &short]);
        }
        g.cli_ok(&["layout", "apply", "--version", "1"]);
        for i in 0..n {
            g.wait_healthy(i, true);
        }
        let (id, secret) = g.create_key("simdondar-test");
        g.access_key_id = id;
        g.secret_access_key = secret;
        g.cli_ok(&["bucket", "create", BUCKET]);
        g.cli_ok(&[
            "bucket",
            "allow",
            "--read",
            "--write",
            BUCKET,
            "--key",
            &g.access_key_id.clone(),
        ]);
        g
    }

    /// Starts node `i` for the first time on fresh free ports; if another program took a port
    /// between the probe and the bind, tries again with other ports.
    fn first_start(&mut self, i: usize, replication: usize) {
        for attempt in 1..=5 {
            {
                let node = &mut self.nodes[i];
                node.rpc_port = free_port();
                node.s3_port = free_port();
                node.admin_port = free_port();
            }
            self.write_config(i, replication);
            self.spawn(i);
            match self.wait_answers(i) {
                Ok(()) => return,
                Err(why) => {
                    self.kill_node(i);
                    let log = self.log_tail(i);
                    if attempt < 5
                        && (log.contains("Address already in use") || log.contains("os error 98"))
                    {
                        continue;
                    }
                    panic!(
                        "Garage node {i} did not come up: {why}\n--- log {} (tail) ---\n{log}",
                        self.nodes[i].log.display()
                    );
                }
            }
        }
    }

    fn write_config(&self, i: usize, replication: usize) {
        let node = &self.nodes[i];
        let text = format!(
            "metadata_dir = \"{meta}\"\n\
             data_dir = \"{data}\"\n\
             db_engine = \"sqlite\"\n\
             replication_factor = {replication}\n\
             rpc_bind_addr = \"127.0.0.1:{rpc}\"\n\
             rpc_public_addr = \"127.0.0.1:{rpc}\"\n\
             rpc_secret = \"{secret}\"\n\
             \n\
             [s3_api]\n\
             s3_region = \"{REGION}\"\n\
             api_bind_addr = \"127.0.0.1:{s3}\"\n\
             \n\
             [admin]\n\
             api_bind_addr = \"127.0.0.1:{admin}\"\n\
             admin_token = \"{token}\"\n",
            meta = node.dir.join("meta").display(),
            data = node.dir.join("data").display(),
            rpc = node.rpc_port,
            secret = self.rpc_secret,
            s3 = node.s3_port,
            admin = node.admin_port,
            token = self.admin_token,
        );
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&node.config)
            .unwrap_or_else(|e| panic!("write {}: {e}", node.config.display()));
        f.write_all(text.as_bytes())
            .unwrap_or_else(|e| panic!("write {}: {e}", node.config.display()));
    }

    fn spawn(&mut self, i: usize) {
        let node = &self.nodes[i];
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log)
            .unwrap_or_else(|e| panic!("open {}: {e}", node.log.display()));
        let err = log.try_clone().expect("clone the node's log file");
        let mut cmd = Command::new(&self.binary);
        cmd.arg("-c")
            .arg(&node.config)
            .arg("server")
            .env("RUST_LOG", "garage=info")
            .env_remove("GARAGE_RPC_SECRET")
            .env_remove("GARAGE_ADMIN_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(err));
        let child = crate::support::mariadb::spawn_killed_with_process(cmd).unwrap_or_else(|e| {
            panic!(
                "cannot start {}: {e}; {MISSING_HINT}",
                self.binary.display()
            )
        });
        self.nodes[i].child = Some(child);
    }

    /// Waits until node `i`'s admin API answers and its RPC takes CLI commands.
    fn wait_answers(&mut self, i: usize) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(child) = self.nodes[i].child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!("the server exited early with {status}"));
                }
            }
            let last = match http_get(self.nodes[i].admin_port, "/health") {
                Ok(_) => {
                    let out = self.cli_on(i, &["status"]);
                    if out.status.success() {
                        return Ok(());
                    }
                    format!("garage status: {}", show(&out))
                }
                Err(e) => format!("admin API: {e}"),
            };
            if Instant::now() >= deadline {
                return Err(format!(
                    "no answer within {} s (last: {last})",
                    START_TIMEOUT.as_secs()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until node `i`'s `/health` says the cluster is usable; `full`: every node is up.
    fn wait_healthy(&self, i: usize, full: bool) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let last = match http_get(self.nodes[i].admin_port, "/health") {
                Ok((200, body)) if !full || body.contains("fully operational") => return,
                Ok((status, body)) => format!("HTTP {status}: {}", body.trim()),
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                panic!(
                    "Garage node {i} not healthy within {} s (last /health: {last})\n--- log {} (tail) ---\n{}",
                    START_TIMEOUT.as_secs(),
                    self.nodes[i].log.display(),
                    self.log_tail(i)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `http://127.0.0.1:PORT`, node 0's S3 API.
    pub fn endpoint(&self) -> String {
        self.node_endpoint(0)
    }

    /// `http://127.0.0.1:PORT`, node `i`'s S3 API.
    pub fn node_endpoint(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.nodes[i].s3_port)
    }

    /// `http://127.0.0.1:PORT`, node `i`'s admin API (bearer [`Garage::admin_token`]).
    pub fn admin_endpoint(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.nodes[i].admin_port)
    }

    /// The S3 region, `garage`.
    pub fn region(&self) -> &'static str {
        REGION
    }

    /// The bucket, `simdondar`.
    pub fn bucket(&self) -> &'static str {
        BUCKET
    }

    /// The folder holding every node's config, data and log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The number of nodes.
    pub fn nodes(&self) -> usize {
        self.nodes.len()
    }

    /// Node `i`'s log file.
    pub fn log_path(&self, i: usize) -> &Path {
        &self.nodes[i].log
    }

    /// The last lines of node `i`'s log.
    pub fn log_tail(&self, i: usize) -> String {
        let text = std::fs::read_to_string(&self.nodes[i].log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Writes the agent's credentials file (mode 0600): `access_key_id`, `secret_access_key`.
    pub fn write_credentials_file(&self, path: &Path) {
        let _ = std::fs::remove_file(path);
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        write!(
            f,
            "access_key_id = \"{}\"\nsecret_access_key = \"{}\"\n",
            self.access_key_id, self.secret_access_key
        )
        .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// Kills node `i` with SIGKILL (no clean shutdown) and reaps it. Measured on Garage 2.5.0:
    /// the other nodes notice only at their next ping, so the first request routed to node `i`
    /// afterwards can wait about 8 s.
    pub fn kill_node(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether node `i` runs.
    pub fn is_running(&mut self, i: usize) -> bool {
        match self.nodes[i].child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Starts node `i` again with its config and data (after [`Garage::kill_node`]); returns
    /// once it answers and, if every node runs, once it and node 0 see the whole cluster.
    pub fn start_node(&mut self, i: usize) {
        assert!(
            !self.is_running(i),
            "start_node({i}): node {i} is still running"
        );
        self.spawn(i);
        if let Err(why) = self.wait_answers(i) {
            self.kill_node(i);
            panic!(
                "Garage node {i} did not come back: {why}\n--- log {} (tail) ---\n{}",
                self.nodes[i].log.display(),
                self.log_tail(i)
            );
        }
        // Garage counts a peer as up only once it has its own outgoing connection to it; left
        // alone, the other nodes retry the restarted one only every 30 s (measured: the
        // cluster stayed degraded for 30 s). Connecting both ways explicitly takes milliseconds.
        for j in 0..self.nodes.len() {
            if j != i && self.is_running(j) {
                for (from, to) in [(i, j), (j, i)] {
                    let id = self.nodes[to].id.clone();
                    let out = self.cli_on(from, &["node", "connect", &id]);
                    assert!(
                        out.status.success(),
                        "node {from}: garage node connect {id}: {}",
                        show(&out)
                    );
                }
            }
        }
        let all = (0..self.nodes.len()).all(|j| self.is_running(j));
        self.wait_healthy(i, all);
        if i != 0 && self.is_running(0) {
            self.wait_healthy(0, all);
        }
    }

    /// Kills every node (also done on drop).
    pub fn stop_all(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill_node(i);
        }
    }

    fn cli_command(&self, i: usize) -> Command {
        let mut cmd = Command::new(&self.binary);
        cmd.arg("-c")
            .arg(&self.nodes[i].config)
            .env_remove("GARAGE_RPC_SECRET")
            .env_remove("GARAGE_ADMIN_TOKEN")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null());
        cmd
    }

    fn cli_on(&self, i: usize, args: &[&str]) -> Output {
        let mut cmd = self.cli_command(i);
        cmd.args(args);
        run_bounded(cmd, CLI_TIMEOUT).unwrap_or_else(|e| panic!("garage {args:?} on node {i}: {e}"))
    }

    /// Runs the admin command `garage ARGS…` against node 0 (e.g. `bucket info simdondar`).
    pub fn garage_cli(&self, args: &[&str]) -> Output {
        self.cli_on(0, args)
    }

    /// [`Garage::garage_cli`] that must succeed; returns its standard output.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.garage_cli(args);
        assert!(out.status.success(), "garage {args:?}: {}", show(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Sets the bucket's quota on total object size (`garage bucket set-quotas --max-size`).
    pub fn set_quota_max_size(&self, bytes: u64) {
        self.cli_ok(&[
            "bucket",
            "set-quotas",
            BUCKET,
            "--max-size",
            &bytes.to_string(),
        ]);
    }

    /// Creates another access key (no rights on any bucket); returns (key id, secret).
    pub fn create_key(&self, name: &str) -> (String, String) {
        let text = self.cli_ok(&["key", "create", name]);
        let field = |label: &str| {
            text.lines()
                .find_map(|l| l.trim().strip_prefix(label).map(|v| v.trim().to_string()))
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| {
                    panic!("no `{label}` in the output of garage key create:\n{text}")
                })
        };
        (field("Key ID:"), field("Secret key:"))
    }

    /// Runs Debian's `rclone` against this Garage: the remote `g` (path style, region `garage`,
    /// the read/write key) in a 0600 config file under [`Garage::dir`], so no secret is in any
    /// argv or environment. Fails fast: `--retries 1 --low-level-retries 1` (later flags in
    /// `args` override them). E.g. `g.rclone(&["cat", "g:simdondar/some/key"])`.
    pub fn rclone(&self, args: &[&str]) -> Output {
        self.rclone_at(0, args)
    }

    /// [`Garage::rclone`] through node `i`'s S3 API.
    pub fn rclone_at(&self, i: usize, args: &[&str]) -> Output {
        let rclone = require_tool("rclone", "rclone");
        let conf = self.dir.join(format!("rclone-node{i}.conf"));
        let text = format!(
            "[g]\ntype = s3\nprovider = Other\naccess_key_id = {}\nsecret_access_key = {}\n\
             endpoint = {}\nregion = {REGION}\nforce_path_style = true\nno_check_bucket = true\n",
            self.access_key_id,
            self.secret_access_key,
            self.node_endpoint(i)
        );
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&conf)
            .unwrap_or_else(|e| panic!("write {}: {e}", conf.display()));
        f.write_all(text.as_bytes())
            .unwrap_or_else(|e| panic!("write {}: {e}", conf.display()));
        let mut cmd = Command::new(rclone);
        cmd.arg("--config")
            .arg(&conf)
            .args(["--retries", "1", "--low-level-retries", "1"])
            .args(args)
            .env_remove("AWS_CA_BUNDLE")
            .env_remove("RCLONE_CONFIG")
            .stdin(Stdio::null());
        run_bounded(cmd, Duration::from_secs(120)).unwrap_or_else(|e| {
            panic!("rclone {args:?}: {e}; install it with `apt-get install rclone`")
        })
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// Runs `cmd`, killing it after `timeout`; its output, or why it could not run.
fn run_bounded(mut cmd: Command, timeout: Duration) -> io::Result<Output> {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no exit within {} s, killed", timeout.as_secs()),
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ok(Output {
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    })
}

/// A plain HTTP/1.0 GET on 127.0.0.1:`port`; (status, body), bounded by short timeouts.
fn http_get(port: u16, path: &str) -> Result<(u16, String), String> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n")
        .map_err(|e| format!("send to {addr}: {e}"))?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)
        .map_err(|e| format!("read from {addr}: {e}"))?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("not an HTTP answer from {addr}: {text:?}"))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0 to find a free port");
    l.local_addr().expect("local address").port()
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .expect("read /dev/urandom");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}
