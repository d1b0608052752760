/*!
The HTTP `/metrics` listener (`[metrics] listen`, off by default): plain `std::net`, no framework.
`GET /metrics` gets the latest rendered text (200, `text/plain; version=0.0.4`), any other path
404, any other method 405, a request that cannot be read 400. Every wait is bounded (DESIGN.md
§4.8): a request head must arrive within [`READ_TIMEOUT`] and fit in [`MAX_HEAD`] bytes, an answer
be taken within [`WRITE_TIMEOUT`]; at most [`MAX_CONNECTIONS`] are served at once, more are closed
at once. No request, however bad, stops the listener (§4.7).
*/

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Latest;

/// A request head larger than this is refused.
pub const MAX_HEAD: usize = 8 * 1024;
/// How long the whole request head may take to arrive.
pub const READ_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one write of the answer may wait for the client.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections served at once (Prometheus scrapes one at a time; a few for people and curl).
pub const MAX_CONNECTIONS: usize = 4;

/// The listener could not be opened.
#[derive(Debug)]
pub struct BindError {
    pub addr: SocketAddr,
    pub error: std::io::Error,
}

impl std::fmt::Display for BindError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the metrics listener cannot listen on {}: {} (another program uses the port, or the \
             address is not this machine's: change [metrics] listen, or set it to \"\" to turn \
             it off; the textfile is still written)",
            self.addr, self.error
        )
    }
}

impl std::error::Error for BindError {}

/// Binds `addr` and serves from `latest` on a thread of its own; returns the bound address.
pub fn start(addr: SocketAddr, latest: Latest) -> Result<SocketAddr, BindError> {
    let listener = TcpListener::bind(addr).map_err(|error| BindError { addr, error })?;
    let local = listener.local_addr().unwrap_or(addr);
    let spawned = std::thread::Builder::new()
        .name("metrics-http".into())
        .spawn(move || accept_loop(listener, latest));
    if let Err(error) = spawned {
        return Err(BindError { addr, error });
    }
    Ok(local)
}

fn accept_loop(listener: TcpListener, latest: Latest) {
    let busy = Arc::new(AtomicUsize::new(0));
    for conn in listener.incoming() {
        let stream = match conn {
            Ok(s) => s,
            Err(e) => {
                // Out of file descriptors and the like: wait a little, never spin or die.
                log::debug!("metrics listener: accept: {e}");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        if busy.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            busy.fetch_sub(1, Ordering::SeqCst);
            drop(stream); // closed at once: the client tries again
            continue;
        }
        let (latest, busy2) = (latest.clone(), busy.clone());
        let spawned = std::thread::Builder::new()
            .name("metrics-conn".into())
            .spawn(move || {
                let mut stream = stream;
                handle(&mut stream, &latest);
                // The slot is free before the client sees the connection close: a client that
                // asks again at once is never turned away by its own previous request.
                busy2.fetch_sub(1, Ordering::SeqCst);
                drop(stream);
            });
        if spawned.is_err() {
            busy.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// What a request head asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Asked {
    Metrics,
    /// `HEAD /metrics`: the headers only.
    MetricsHead,
    NotFound,
    MethodNotAllowed,
    Bad,
}

/// Reads the request line of a head (pure).
pub fn parse_head(head: &[u8]) -> Asked {
    let Ok(text) = std::str::from_utf8(head) else {
        return Asked::Bad;
    };
    let line = text.split("\r\n").next().unwrap_or_default();
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Asked::Bad;
    };
    if parts.next().is_some() || !version.starts_with("HTTP/1.") || !target.starts_with('/') {
        return Asked::Bad;
    }
    let path = target.split('?').next().unwrap_or_default();
    match (method, path) {
        ("GET", "/metrics") => Asked::Metrics,
        ("HEAD", "/metrics") => Asked::MetricsHead,
        ("GET" | "HEAD", _) => Asked::NotFound,
        _ if !method.is_empty() && method.chars().all(|c| c.is_ascii_uppercase()) => {
            Asked::MethodNotAllowed
        }
        _ => Asked::Bad,
    }
}

/// Reads the head (up to the blank line) within [`READ_TIMEOUT`] and [`MAX_HEAD`] bytes.
fn read_head(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let deadline = Instant::now() + READ_TIMEOUT;
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        stream
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .ok()?;
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            head.truncate(end + 4);
            return Some(head);
        }
        if head.len() > MAX_HEAD {
            return Some(Vec::new()); // answered 400
        }
    }
}

fn handle(stream: &mut TcpStream, latest: &Latest) {
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let Some(head) = read_head(stream) else {
        return; // nothing (complete) arrived in time: just close
    };
    let asked = if head.is_empty() {
        Asked::Bad
    } else {
        parse_head(&head)
    };
    let (status, body, extra) = match asked {
        Asked::Metrics | Asked::MetricsHead => {
            let body = latest.lock().map(|t| t.clone()).unwrap_or_default();
            ("200 OK", body, "")
        }
        Asked::NotFound => (
            "404 Not Found",
            "not found: the metrics are at /metrics\n".to_string(),
            "",
        ),
        Asked::MethodNotAllowed => (
            "405 Method Not Allowed",
            "only GET /metrics\n".to_string(),
            "Allow: GET, HEAD\r\n",
        ),
        Asked::Bad => ("400 Bad Request", "bad request\n".to_string(), ""),
    };
    let content_type = if status.starts_with("200") {
        "text/plain; version=0.0.4; charset=utf-8"
    } else {
        "text/plain; charset=utf-8"
    };
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if asked != Asked::MetricsHead {
        out.extend_from_slice(body.as_bytes());
    }
    let _ = stream.write_all(&out);
    let _ = stream.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines() {
        assert_eq!(
            parse_head(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Asked::Metrics
        );
        assert_eq!(
            parse_head(b"GET /metrics?x=1 HTTP/1.0\r\n\r\n"),
            Asked::Metrics
        );
        assert_eq!(
            parse_head(b"HEAD /metrics HTTP/1.1\r\n\r\n"),
            Asked::MetricsHead
        );
        assert_eq!(parse_head(b"GET / HTTP/1.1\r\n\r\n"), Asked::NotFound);
        assert_eq!(
            parse_head(b"POST /metrics HTTP/1.1\r\n\r\n"),
            Asked::MethodNotAllowed
        );
        assert_eq!(
            parse_head(b"DELETE / HTTP/1.1\r\n\r\n"),
            Asked::MethodNotAllowed
        );
        assert_eq!(parse_head(b"\x16\x03\x01garbage\r\n\r\n"), Asked::Bad);
        assert_eq!(parse_head(b"GET\r\n\r\n"), Asked::Bad);
        assert_eq!(parse_head(b"get /metrics HTTP/1.1\r\n\r\n"), Asked::Bad);
        assert_eq!(parse_head(b"GET metrics HTTP/1.1\r\n\r\n"), Asked::Bad);
        assert_eq!(parse_head(&[0xff, 0xfe, b'\r', b'\n']), Asked::Bad);
    }

    fn get(addr: SocketAddr, req: &[u8]) -> String {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let _ = s.write_all(req); // a connection closed at once refuses it
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    #[test]
    fn serves_the_latest_text_and_survives_silence_and_garbage() {
        let latest: Latest = Arc::new(std::sync::Mutex::new("a_metric 1\n".into()));
        let addr = start("127.0.0.1:0".parse().expect("addr"), latest.clone()).expect("bind");
        let ok = get(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(
            ok.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"),
            "{ok}"
        );
        assert!(ok.ends_with("\r\n\r\na_metric 1\n"), "{ok}");
        *latest.lock().expect("lock") = "a_metric 2\n".into();
        assert!(get(addr, b"GET /metrics HTTP/1.1\r\n\r\n").ends_with("a_metric 2\n"));
        assert!(get(addr, b"GET / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404"));
        assert!(get(addr, b"PUT /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405"));
        assert!(get(addr, b"\x00\x01garbage\r\n\r\n").starts_with("HTTP/1.1 400"));
        let huge = vec![b'A'; MAX_HEAD * 2];
        assert!(get(addr, &huge).starts_with("HTTP/1.1 400"));
        // Clients that connect and say nothing: more of them than connections served at once.
        let silent: Vec<_> = (0..MAX_CONNECTIONS + 2)
            .map(|_| TcpStream::connect(addr).expect("connect"))
            .collect();
        let started = Instant::now();
        let mut answer = String::new();
        while !answer.starts_with("HTTP/1.1 200") {
            assert!(
                started.elapsed() < READ_TIMEOUT * 3,
                "not answered: {answer:?}"
            );
            answer = get(addr, b"GET /metrics HTTP/1.1\r\n\r\n");
            if answer.is_empty() {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        drop(silent);
    }
}
