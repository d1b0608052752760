//! A real SMTP server on 127.0.0.1 for the alert mail: `aiosmtpd` (Debian's `python3-aiosmtpd`,
//! run by `/usr/bin/python3`) with STARTTLS from a certificate signed by a private CA made here
//! with `openssl`, and AUTH (PLAIN/LOGIN) of one user, offered only after STARTTLS. Every mail it
//! accepts, and every login attempt, is written as a JSON line: the test reads what arrived, who
//! logged in and over which TLS version. [`Smtpd::start_plain`] is a relay that offers no STARTTLS
//! (and would take AUTH in clear), to show that the agent then sends nothing.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::agent::{require_tool, show};

/// The login the server accepts.
pub const SMTP_USER: &str = "utd-alert";

const PYTHON: &str = "/usr/bin/python3";

const SERVER: &str = r#"
import asyncio, json, ssl, sys
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

mode, log_path, user = sys.argv[1], sys.argv[2], sys.argv[3]
with open(sys.argv[4]) as f:
    password = f.read()

def record(entry):
    with open(log_path, "a") as f:
        f.write(json.dumps(entry) + "\n")

def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (isinstance(auth_data, LoginPassword)
          and auth_data.login.decode() == user and auth_data.password.decode() == password)
    record({"event": "auth", "mechanism": mechanism, "ok": ok,
            "tls": session.ssl is not None})
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

class Handler:
    async def handle_DATA(self, server, session, envelope):
        tls = None
        if session.ssl is not None:
            tls = session.ssl["ssl_object"].version()
        record({"event": "mail", "mail_from": envelope.mail_from,
                "rcpt_tos": envelope.rcpt_tos,
                "content": envelope.content.decode("utf-8", "replace"),
                "authenticated": bool(session.authenticated),
                "login": (session.login_data or b"").decode(),
                "tls": tls})
        return "250 Message accepted for delivery"

kwargs = dict(authenticator=authenticator, auth_required=True, hostname="relay.test")
if mode == "starttls":
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(sys.argv[5], sys.argv[6])
    kwargs.update(tls_context=ctx, require_starttls=True, auth_require_tls=True)
else:
    kwargs.update(auth_require_tls=False)

async def main():
    loop = asyncio.get_running_loop()
    srv = await loop.create_server(lambda: SMTP(Handler(), **kwargs), "127.0.0.1", 0)
    print(srv.sockets[0].getsockname()[1], flush=True)
    await srv.serve_forever()

asyncio.run(main())
"#;

/// A running SMTP server; killed on drop.
pub struct Smtpd {
    dir: tempfile::TempDir,
    child: Child,
    pub port: u16,
    /// The CA that signed the server's certificate (PEM), for `smtp_ca_file`.
    pub ca: PathBuf,
    /// The password of [`SMTP_USER`].
    pub password: String,
    log: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", show(&out));
}

impl Smtpd {
    /// A relay that requires STARTTLS and then AUTH, with a certificate for 127.0.0.1.
    pub fn start() -> Smtpd {
        Smtpd::spawn("starttls")
    }

    /// A relay that offers no STARTTLS (and would accept AUTH in clear).
    pub fn start_plain() -> Smtpd {
        Smtpd::spawn("plain")
    }

    fn spawn(mode: &str) -> Smtpd {
        assert!(
            Path::new(PYTHON).exists(),
            "{PYTHON} is needed by this test: install it with `apt-get install python3`"
        );
        let probe = Command::new(PYTHON)
            .args(["-c", "import aiosmtpd"])
            .output()
            .expect("python3");
        assert!(
            probe.status.success(),
            "the SMTP test server needs aiosmtpd: install it with `apt-get install python3-aiosmtpd` ({})",
            String::from_utf8_lossy(&probe.stderr).trim()
        );
        require_tool("openssl", "openssl");
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        // A private CA and a server certificate for 127.0.0.1 signed by it.
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=SIMDONDAR test relay CA",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
            ],
        );
        std::fs::write(
            d.join("server.ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
        )
        .expect("ext");
        openssl(
            d,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
            ],
        );
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "server.ext",
                "-out",
                "server.pem",
            ],
        );
        let password = format!("smtp-{}-Rahasia\"\\x", std::process::id());
        let log = d.join("smtpd.jsonl");
        // The password reaches the server in a file too: no process here has it in argv.
        let pw_file = d.join("server-password");
        std::fs::write(&pw_file, &password).expect("write password");
        let mut cmd = Command::new(PYTHON);
        cmd.args(["-c", SERVER, mode])
            .arg(&log)
            .arg(SMTP_USER)
            .arg(&pw_file)
            .arg(d.join("server.pem"))
            .arg(d.join("server.key"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                std::fs::File::create(d.join("smtpd.err")).expect("stderr file"),
            ));
        let mut child = cmd.spawn().expect("start the SMTP test server");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let port = rx
            .recv_timeout(Duration::from_secs(20))
            .ok()
            .and_then(|l| l.trim().parse::<u16>().ok())
            .unwrap_or_else(|| {
                let _ = child.kill();
                panic!(
                    "the SMTP test server did not start: {}",
                    std::fs::read_to_string(d.join("smtpd.err")).unwrap_or_default()
                )
            });
        Smtpd {
            ca: d.join("ca.pem"),
            dir,
            child,
            port,
            password,
            log,
        }
    }

    /// The server's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A 0600 `smtp_credentials` file with the right login, in `dir`.
    pub fn credentials_file(&self, dir: &Path) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join("smtp.toml");
        let esc = self.password.replace('\\', "\\\\").replace('"', "\\\"");
        std::fs::write(
            &p,
            format!("username = \"{SMTP_USER}\"\npassword = \"{esc}\"\n"),
        )
        .expect("write credentials");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        p
    }

    /// What the server recorded so far (`event` is `mail` or `auth`).
    pub fn events(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }

    /// The mails received so far.
    pub fn mails(&self) -> Vec<serde_json::Value> {
        self.events()
            .into_iter()
            .filter(|e| e["event"] == "mail")
            .collect()
    }

    /// Waits up to `limit` for the first mail.
    pub fn wait_mail(&self, limit: Duration) -> Option<serde_json::Value> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(m) = self.mails().into_iter().next() {
                return Some(m);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Smtpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
