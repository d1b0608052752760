/*!
A call on a disk that may never return (a wedged mount, a FUSE driver that stopped) run on a
thread of its own and waited for at most a deadline. A thread stuck in the kernel cannot be
killed: when the deadline passes it is left detached and never waited on again.
*/

use std::sync::mpsc;
use std::time::Duration;

/// The call did not return within the deadline; its thread was left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimedOut(pub Duration);

/// Runs `f` on a named thread and waits up to `limit` for its result.
pub fn within<T: Send + 'static>(
    limit: Duration,
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, TimedOut> {
    let (tx, rx) = mpsc::sync_channel(1);
    let spawned = std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let _ = tx.send(f());
        });
    if spawned.is_err() {
        return Err(TimedOut(Duration::ZERO));
    }
    rx.recv_timeout(limit).map_err(|_| TimedOut(limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_the_value_or_gives_up_at_the_deadline() {
        assert_eq!(within(Duration::from_secs(30), "t", || 7), Ok(7));
        let started = std::time::Instant::now();
        let r = within(Duration::from_millis(100), "t", || {
            std::thread::sleep(Duration::from_secs(600));
        });
        assert_eq!(r, Err(TimedOut(Duration::from_millis(100))));
        assert!(started.elapsed() < Duration::from_secs(30));
    }
}
