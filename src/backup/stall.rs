/*!
Bounds on the programs a source runs (DESIGN.md §4.8): a watchdog that kills a source's whole
process group when the agent has waited `stall_timeout` for its next bytes, and a bounded
`Command::output` for the short client calls around a dump (the pre-flight query, the lock probe).

Only time spent *waiting for the source* counts: while the pipeline is held back by slow targets
it does not read, and the source is not blamed for that.
*/

use std::io::{self, Read};
use std::os::unix::process::CommandExt;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Called once when the watchdog fires, before the process group is killed (e.g. to end the
/// dump's own lock wait on the database server). It must bound its own waits.
pub type OnStall = Box<dyn FnOnce() + Send>;

struct Inner {
    epoch: Instant,
    /// Milliseconds since `epoch` + 1 when a read of the source's output began; 0 when not
    /// waiting.
    waiting_since: AtomicU64,
    fired: AtomicBool,
    done: AtomicBool,
    timeout: Duration,
    pgid: i32,
    on_stall: Mutex<Option<OnStall>>,
}

impl Inner {
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64 + 1
    }
}

/// The watchdog of one running source. Dropping it stops its thread.
pub struct Watch {
    inner: Arc<Inner>,
    thread: Option<JoinHandle<()>>,
}

impl Watch {
    /// Watches the process group `pgid` (the source's leader was started with
    /// `process_group(0)`, so its pid is the group's id).
    pub fn start(pgid: u32, timeout: Duration, on_stall: Option<OnStall>) -> io::Result<Watch> {
        let inner = Arc::new(Inner {
            epoch: Instant::now(),
            waiting_since: AtomicU64::new(0),
            fired: AtomicBool::new(false),
            done: AtomicBool::new(false),
            timeout,
            pgid: pgid as i32,
            on_stall: Mutex::new(on_stall),
        });
        let tick = (timeout / 10).clamp(Duration::from_millis(20), Duration::from_secs(1));
        let w = Arc::clone(&inner);
        let thread = std::thread::Builder::new()
            .name("source watchdog".into())
            .spawn(move || {
                while !w.done.load(Ordering::Acquire) {
                    std::thread::park_timeout(tick);
                    let since = w.waiting_since.load(Ordering::Acquire);
                    if since == 0 || w.done.load(Ordering::Acquire) {
                        continue;
                    }
                    let waited = Duration::from_millis(w.now_ms().saturating_sub(since));
                    if waited >= w.timeout {
                        w.fired.store(true, Ordering::Release);
                        log::error!(
                            "the source produced no bytes for {} s: stopping it",
                            waited.as_secs()
                        );
                        let hook = w.on_stall.lock().ok().and_then(|mut h| h.take());
                        if let Some(hook) = hook {
                            hook();
                        }
                        kill_group(w.pgid);
                        return;
                    }
                }
            })?;
        Ok(Watch {
            inner,
            thread: Some(thread),
        })
    }

    /// The agent starts waiting for the source's next bytes.
    pub fn waiting(&self) {
        self.inner
            .waiting_since
            .store(self.inner.now_ms(), Ordering::Release);
    }

    /// The source answered (bytes or the end of its output).
    pub fn answered(&self) {
        self.inner.waiting_since.store(0, Ordering::Release);
    }

    /// Whether the watchdog stopped the source.
    pub fn fired(&self) -> bool {
        self.inner.fired.load(Ordering::Acquire)
    }

    /// The configured bound.
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.inner.done.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            // The thread only sleeps, checks and kills: it ends within one tick.
            let _ = t.join();
        }
    }
}

/// SIGKILL to a whole process group (the source and everything it started).
pub fn kill_group(pgid: i32) {
    if pgid <= 1 {
        return;
    }
    let _ = nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(pgid),
        nix::sys::signal::Signal::SIGKILL,
    );
}

/// Why a bounded command gave no output.
#[derive(Debug)]
pub enum BoundedError {
    /// It could not be started.
    Spawn(io::Error),
    /// It did not finish within the bound; it was killed (its process group).
    TimedOut(Duration),
}

/// Runs a command to completion with its stdout and stderr collected, but for at most `limit`:
/// then its process group is killed. stdin is closed.
pub fn output_within(cmd: &mut Command, limit: Duration) -> Result<Output, BoundedError> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(BoundedError::Spawn)?;
    let collect = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            if let Some(mut r) = r {
                let _ = r.by_ref().take(16 << 20).read_to_end(&mut v);
            }
            v
        })
    };
    let out = collect(
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let err = collect(
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let started = Instant::now();
    let mut pause = Duration::from_millis(2);
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if started.elapsed() >= limit => break None,
            Ok(None) => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(_) => break None,
        }
    };
    let Some(status) = status else {
        kill_group(child.id() as i32);
        let _ = child.wait();
        let _ = out.join();
        let _ = err.join();
        return Err(BoundedError::TimedOut(limit));
    };
    // A grandchild that keeps the pipes open must not hold us either.
    kill_group(child.id() as i32);
    Ok(Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silent_source_is_killed_after_the_timeout_with_its_children() {
        // The shell starts a child that would keep the pipe open: both must go.
        let mut child = Command::new("sh")
            .args(["-c", "sleep 600 & sleep 600"])
            .stdout(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("sh");
        let hooked = Arc::new(AtomicBool::new(false));
        let h = Arc::clone(&hooked);
        let watch = Watch::start(
            child.id(),
            Duration::from_millis(300),
            Some(Box::new(move || h.store(true, Ordering::SeqCst))),
        )
        .expect("watch");
        let mut out = child.stdout.take().expect("stdout");
        let started = Instant::now();
        watch.waiting();
        let mut buf = [0u8; 16];
        let n = out.read(&mut buf).expect("read");
        watch.answered();
        assert_eq!(n, 0, "the pipe closes once the whole group is killed");
        assert!(watch.fired());
        assert!(hooked.load(Ordering::SeqCst), "the stall hook ran");
        assert!(started.elapsed() < Duration::from_secs(30));
        let status = child.wait().expect("wait");
        assert!(!status.success());
    }

    #[test]
    fn time_not_spent_waiting_for_the_source_does_not_count() {
        let mut child = Command::new("sleep")
            .arg("600")
            .process_group(0)
            .spawn()
            .expect("sleep");
        let watch = Watch::start(child.id(), Duration::from_millis(100), None).expect("watch");
        // Never waiting: the source is not blamed however long it takes.
        std::thread::sleep(Duration::from_millis(500));
        assert!(!watch.fired());
        assert!(
            child.try_wait().expect("try_wait").is_none(),
            "still running"
        );
        drop(watch);
        kill_group(child.id() as i32);
        let _ = child.wait();
    }

    #[test]
    fn bounded_output_returns_or_kills() {
        let out = output_within(
            Command::new("sh").args(["-c", "echo hi; echo err >&2"]),
            Duration::from_secs(30),
        )
        .expect("runs");
        assert_eq!(out.stdout, b"hi\n");
        assert_eq!(out.stderr, b"err\n");
        let started = Instant::now();
        let e = output_within(
            Command::new("sh").args(["-c", "sleep 600 & sleep 600"]),
            Duration::from_millis(200),
        );
        assert!(matches!(e, Err(BoundedError::TimedOut(_))), "{e:?}");
        assert!(started.elapsed() < Duration::from_secs(30));
    }
}
