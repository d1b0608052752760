//! The daemon under test: `simdondar-backup run --sim` in a `Setup`, its log in a file of the
//! setting, bounded waits that print that log when they time out, signals, and a kill when
//! dropped (so a failing test leaves no daemon behind).
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::agent::Setup;

/// `run --sim`, killed when dropped.
pub struct Daemon {
    child: Option<Child>,
    log: PathBuf,
}

impl Daemon {
    /// `run --sim` with its schedule `speed` times faster than real time (1 = real time),
    /// started without waiting for anything.
    pub fn spawn(setup: &Setup, speed: u32) -> Daemon {
        // One log per daemon: a test that restarts the daemon keeps every start's log.
        let mut n = 0;
        let log = loop {
            let p = setup.dir.path().join(format!("daemon-{n}.log"));
            if !p.exists() {
                break p;
            }
            n += 1;
        };
        let f = std::fs::File::create(&log).expect("create the daemon's log file");
        let child = setup
            .cmd()
            .args(["run", "--sim", "--clock-speed", &speed.to_string()])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::from(f))
            .spawn()
            .expect("start the daemon");
        Daemon {
            child: Some(child),
            log,
        }
    }

    /// `run --sim`, once its control socket answers.
    pub fn start(setup: &Setup, speed: u32) -> Daemon {
        let d = Daemon::spawn(setup, speed);
        let sock = setup.runtime.join("control.sock");
        d.wait_until(Duration::from_secs(20), "the control socket", || {
            std::os::unix::net::UnixStream::connect(&sock).is_ok()
        });
        d
    }

    /// What the daemon has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until `f` holds; after `limit`, fails the test with the daemon's log.
    pub fn wait_until(&self, limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + limit;
        while !f() {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; daemon log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// True while the process has not exited.
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Sends `sig` and waits (at most 90 s) for the daemon to exit; its exit code, `None` if a
    /// signal ended it or it had already been stopped.
    pub fn signal(&mut self, sig: nix::sys::signal::Signal) -> Option<i32> {
        let mut c = self.child.take()?;
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(c.id() as i32), sig);
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Ok(Some(st)) = c.try_wait() {
                return st.code();
            }
            if Instant::now() >= deadline {
                let _ = c.kill();
                let _ = c.wait();
                panic!(
                    "the daemon did not stop within 90 s of {sig}:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
