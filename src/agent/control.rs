/*!
The control socket: a Unix stream socket in `runtime_dir` (mode 0660, owner root, group
configurable) through which the CLI talks to the running daemon. One JSON request per line, one
JSON response per line. Every request is identified by the caller's uid (`SO_PEERCRED`) for the
log. Anything malformed gets an error response; nothing a client sends can stop the daemon.
*/

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Sender};
use std::time::Duration;

use super::state::{Request, Response};

/// The socket's file name in `runtime_dir`.
pub const SOCKET_NAME: &str = "control.sock";
/// Requests longer than this are refused.
pub const MAX_REQUEST: u64 = 64 * 1024;

/// A request that reached the daemon, with where to send the answer.
pub struct Incoming {
    pub request: Request,
    pub uid: u32,
    pub reply: Sender<Response>,
}

/// Parses one request line.
pub fn parse_request(line: &str) -> Result<Request, String> {
    serde_json::from_str::<Request>(line.trim())
        .map_err(|e| format!("bad request: {e} (expected e.g. {{\"cmd\":\"status\"}})"))
}

fn peer_uid(s: &UnixStream) -> Option<u32> {
    nix::sys::socket::getsockopt(s, nix::sys::socket::sockopt::PeerCredentials)
        .ok()
        .map(|c| c.uid())
}

fn handle(stream: UnixStream, tx: &Sender<Incoming>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let uid = peer_uid(&stream).unwrap_or(u32::MAX);
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut line = String::new();
    let mut reader = BufReader::new(read_half.take(MAX_REQUEST));
    let response = match reader.read_line(&mut line) {
        Ok(0) => return,
        Err(e) => Response::err(format!("bad request: {e}")),
        Ok(_) if !line.ends_with('\n') && line.len() as u64 >= MAX_REQUEST => {
            Response::err("bad request: longer than 64 KiB")
        }
        Ok(_) => match parse_request(&line) {
            Err(e) => Response::err(e),
            Ok(request) => {
                log::info!("control request {request:?} from uid {uid}");
                let (rtx, rrx) = channel();
                if tx
                    .send(Incoming {
                        request,
                        uid,
                        reply: rtx,
                    })
                    .is_err()
                {
                    Response::err("the daemon is stopping")
                } else {
                    rrx.recv()
                        .unwrap_or_else(|_| Response::err("the daemon stopped before answering"))
                }
            }
        },
    };
    let mut w = stream;
    let mut text = serde_json::to_string(&response).unwrap_or_else(|_| "{\"ok\":false}".into());
    text.push('\n');
    let _ = w.write_all(text.as_bytes());
}

/// Binds the socket (replacing a stale one) and serves it on a thread.
pub fn serve(path: &Path, group: Option<&str>, tx: Sender<Incoming>) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    if UnixStream::connect(path).is_ok() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            format!(
                "another simdondar-backup daemon is running ({} answers)",
                path.display()
            ),
        ));
    }
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    if let Some(g) = group {
        match nix::unistd::Group::from_name(g) {
            Ok(Some(gr)) => {
                if let Err(e) =
                    nix::unistd::chown(path, Some(nix::unistd::Uid::from_raw(0)), Some(gr.gid))
                {
                    log::warn!("cannot give {} to group {g}: {e}", path.display());
                }
            }
            _ => {
                log::warn!("socket_group {g} does not exist; only root can use the control socket")
            }
        }
    }
    std::thread::Builder::new()
        .name("control socket".into())
        .spawn(move || {
            for conn in listener.incoming() {
                let Ok(stream) = conn else { continue };
                let tx = tx.clone();
                let _ = std::thread::Builder::new()
                    .name("control client".into())
                    .spawn(move || handle(stream, &tx));
            }
        })?;
    Ok(())
}

/// The socket path for a runtime directory.
pub fn socket_path(runtime_dir: &Path) -> PathBuf {
    runtime_dir.join(SOCKET_NAME)
}

/// Whether a daemon answers on the socket.
pub fn daemon_running(path: &Path) -> bool {
    UnixStream::connect(path).is_ok()
}

/// Sends one request and waits for the answer (`None`: wait as long as it takes).
pub fn request(path: &Path, req: &Request, timeout: Option<Duration>) -> Result<Response, String> {
    let mut s = UnixStream::connect(path)
        .map_err(|e| format!("cannot reach the daemon at {}: {e}", path.display()))?;
    s.set_read_timeout(timeout).map_err(|e| e.to_string())?;
    let mut text = serde_json::to_string(req).map_err(|e| e.to_string())?;
    text.push('\n');
    s.write_all(text.as_bytes())
        .map_err(|e| format!("cannot send to the daemon: {e}"))?;
    let mut line = String::new();
    BufReader::new(s.take(16 << 20))
        .read_line(&mut line)
        .map_err(|e| format!("no answer from the daemon: {e}"))?;
    if line.is_empty() {
        // The connection closed without a word: the daemon ended (killed, restarted by systemd)
        // while this request was in its hands.
        return Err(format!(
            "the daemon at {} stopped before it answered (it was stopped or restarted during the request); `simdondar-backup status` shows what it recorded",
            path.display()
        ));
    }
    serde_json::from_str(&line).map_err(|e| format!("the daemon's answer is not valid: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_daemon_that_ends_before_answering_is_said_so() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("control.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).expect("bind");
        let server = std::thread::spawn(move || {
            let (s, _) = listener.accept().expect("accept");
            let mut line = String::new();
            BufReader::new(&s)
                .read_line(&mut line)
                .expect("the request");
            // Dies here, as a SIGKILLed daemon does: the connection closes, no answer.
        });
        let e = request(&path, &Request::Status, Some(Duration::from_secs(30)))
            .expect_err("no answer is not an answer");
        server.join().expect("the fake daemon");
        assert!(e.contains("stopped before it answered"), "{e}");
        assert!(e.contains("simdondar-backup status"), "{e}");
        assert!(!e.contains("EOF"), "{e}");
    }

    #[test]
    fn requests_parse_and_garbage_is_refused() {
        assert_eq!(parse_request("{\"cmd\":\"status\"}\n"), Ok(Request::Status));
        assert_eq!(
            parse_request("{\"cmd\":\"press\",\"long\":true}"),
            Ok(Request::Press { long: true })
        );
        assert_eq!(
            parse_request("{\"cmd\":\"backup\"}"),
            Ok(Request::Backup { sources: vec![] })
        );
        assert!(parse_request("{\"cmd\":\"rm -rf\"}").is_err());
        assert!(parse_request("\u{0}\u{1}garbage").is_err());
        assert!(parse_request("").is_err());
    }

    #[test]
    fn server_answers_and_survives_garbage() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(SOCKET_NAME);
        let (tx, rx) = channel::<Incoming>();
        serve(&path, None, tx).expect("serve");
        std::thread::spawn(move || {
            for inc in rx {
                let _ = inc
                    .reply
                    .send(Response::ok(format!("{:?} from {}", inc.request, inc.uid)));
            }
        });
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o660);
        // Garbage, a huge line, an early hang-up: each gets an answer or is dropped; the server lives.
        let mut s = UnixStream::connect(&path).expect("connect");
        s.write_all(b"not json\n").expect("write");
        let mut answer = String::new();
        BufReader::new(s).read_line(&mut answer).expect("read");
        assert!(answer.contains("bad request"), "{answer}");
        let mut s = UnixStream::connect(&path).expect("connect");
        let _ = s.write_all(&vec![b'x'; 200_000]);
        drop(UnixStream::connect(&path).expect("connect"));
        let r = request(&path, &Request::Status, Some(Duration::from_secs(5))).expect("status");
        assert!(r.ok);
        assert!(r.message.starts_with("Status from "), "{}", r.message);
        assert!(daemon_running(&path));
        let dup = serve(&path, None, channel().0).expect_err("second daemon");
        assert!(dup.to_string().contains("another"), "{dup}");
    }
}
