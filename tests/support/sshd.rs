//! A private OpenSSH server on 127.0.0.1 for the `ssh-tar` source: its own host key, one client
//! key in `authorized_keys`, a pinned `known_hosts` for the client. Needs root and the
//! `openssh-server` and `openssh-client` packages.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::agent::{require_tool, show};

pub struct Sshd {
    dir: tempfile::TempDir,
    child: Child,
    pub port: u16,
    /// The client's private key (0600).
    pub key: PathBuf,
    /// `known_hosts` pinning this server's host key.
    pub known_hosts: PathBuf,
    /// A second server key, *not* this server's: for the host-key mismatch test.
    pub wrong_known_hosts: PathBuf,
}

fn keygen(path: &Path) {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .output()
        .expect("ssh-keygen");
    assert!(out.status.success(), "ssh-keygen: {}", show(&out));
}

impl Sshd {
    pub fn start() -> Sshd {
        let sshd = PathBuf::from("/usr/sbin/sshd");
        assert!(
            sshd.exists(),
            "/usr/sbin/sshd is needed by this test: install it with `apt-get install openssh-server`"
        );
        require_tool("ssh", "openssh-client");
        require_tool("ssh-keygen", "openssh-client");
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        keygen(&d.join("host_key"));
        keygen(&d.join("other_host_key"));
        keygen(&d.join("client_key"));
        std::fs::copy(d.join("client_key.pub"), d.join("authorized_keys"))
            .expect("authorized_keys");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        // Privilege separation needs this directory.
        std::fs::create_dir_all("/run/sshd").expect("/run/sshd");
        let config = d.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {hk}\nAuthorizedKeysFile {ak}\n\
                 PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 UsePAM no\nStrictModes no\nPidFile {pid}\nLogLevel ERROR\n",
                hk = d.join("host_key").display(),
                ak = d.join("authorized_keys").display(),
                pid = d.join("sshd.pid").display(),
            ),
        )
        .expect("sshd_config");
        let child = Command::new(&sshd)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sshd");
        let pubkey = |name: &str| {
            let text = std::fs::read_to_string(d.join(name)).expect("read pub key");
            let mut parts = text.split_whitespace();
            format!(
                "[127.0.0.1]:{port} {} {}\n",
                parts.next().unwrap_or(""),
                parts.next().unwrap_or("")
            )
        };
        let known_hosts = d.join("known_hosts");
        std::fs::write(&known_hosts, pubkey("host_key.pub")).expect("known_hosts");
        let wrong_known_hosts = d.join("wrong_known_hosts");
        std::fs::write(&wrong_known_hosts, pubkey("other_host_key.pub")).expect("known_hosts");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "sshd did not start listening on port {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Sshd {
            key: d.join("client_key"),
            known_hosts,
            wrong_known_hosts,
            port,
            child,
            dir,
        }
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
