/*!
systemd's notify protocol, by hand: `READY=1` when the loop runs, `WATCHDOG=1` from the loop
itself (so a stuck loop is restarted), `STATUS=` with the state, `STOPPING=1` on the way out.
Without `NOTIFY_SOCKET` (not under systemd) every call is a no-op.
*/

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

/// A connection to systemd's notify socket.
pub struct Notifier {
    socket: Option<(UnixDatagram, std::path::PathBuf)>,
    watchdog: Option<Duration>,
    last_ping: Option<Instant>,
    last_status: String,
}

impl Notifier {
    /// Reads `NOTIFY_SOCKET` and `WATCHDOG_USEC` from the environment.
    pub fn from_env() -> Notifier {
        let socket = std::env::var_os("NOTIFY_SOCKET").and_then(|p| {
            let path = std::path::PathBuf::from(&p);
            // Abstract sockets ("@…") are not supported by std; systemd uses a path by default.
            if path.to_string_lossy().starts_with('@') {
                log::warn!("NOTIFY_SOCKET is an abstract socket; systemd notifications disabled");
                return None;
            }
            UnixDatagram::unbound().ok().map(|s| (s, path))
        });
        let watchdog = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|us| *us > 0)
            .map(Duration::from_micros);
        Notifier {
            socket,
            watchdog,
            last_ping: None,
            last_status: String::new(),
        }
    }

    fn send(&self, text: &str) {
        if let Some((s, path)) = &self.socket {
            if let Err(e) = s.send_to(text.as_bytes(), path) {
                log::warn!("cannot notify systemd: {e}");
            }
        }
    }

    pub fn ready(&self) {
        self.send("READY=1\nSTATUS=started");
    }

    pub fn stopping(&self) {
        self.send("STOPPING=1\nSTATUS=stopping");
    }

    /// Pings the watchdog at half its interval; sends `STATUS=` when it changed.
    pub fn alive(&mut self, status: &str) {
        if let Some(w) = self.watchdog {
            if self.last_ping.is_none_or(|t| t.elapsed() >= w / 2) {
                self.send("WATCHDOG=1");
                self.last_ping = Some(Instant::now());
            }
        }
        if status != self.last_status {
            self.send(&format!("STATUS={status}"));
            self.last_status = status.to_string();
        }
    }
}
