/*!
The upload's rate limit: a reader that holds its caller back so that the bytes it hands out, over
the whole upload, stay under `bandwidth` bytes per second (a UTD's uplink is shared with
SIMDONDAR's own users), with at most a second of credit.
*/

use std::io::Read;
use std::time::{Duration, Instant};

/// Paces bytes to a rate, across every reader that borrows it: a token bucket that holds at most
/// one second of credit, so time spent on other things (staging, hashing, a pause) never turns
/// into a burst at line rate.
#[derive(Debug)]
pub struct Pace {
    rate: Option<u64>,
    /// When the bytes counted so far are due, at the rate.
    due: Instant,
}

/// The most credit the bucket holds.
const BURST: Duration = Duration::from_secs(1);

impl Pace {
    /// `rate` in bytes per second; `None`: no limit.
    pub fn new(rate: Option<u64>) -> Pace {
        Pace {
            rate,
            due: Instant::now(),
        }
    }

    /// Counts `n` bytes and waits until they fit the rate.
    pub fn take(&mut self, n: usize) {
        let Some(rate) = self.rate.filter(|r| *r > 0) else {
            return;
        };
        let now = Instant::now();
        // Credit older than the burst is dropped.
        if self.due + BURST < now {
            self.due = now - BURST;
        }
        self.due += Duration::from_secs_f64(n as f64 / rate as f64);
        if self.due > now {
            std::thread::sleep(self.due - now);
        }
    }
}

/// A reader paced by a [`Pace`]; each read hands out at most 64 KiB.
pub struct Paced<'a, R> {
    pub inner: R,
    pub pace: &'a mut Pace,
}

impl<R: Read> Read for Paced<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let max = buf.len().min(64 << 10);
        let n = self.inner.read(&mut buf[..max])?;
        self.pace.take(n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_time_is_no_burst() {
        let mut pace = Pace::new(Some(100_000));
        std::thread::sleep(Duration::from_millis(300));
        let t = Instant::now();
        // 300 kB at 100 kB/s after 0.3 s idle: at most 1 s of credit, so at least ~2 s.
        for _ in 0..30 {
            pace.take(10_000);
        }
        assert!(
            t.elapsed() >= Duration::from_millis(1900),
            "{:?}",
            t.elapsed()
        );
    }

    #[test]
    fn a_limited_read_takes_its_time() {
        let data = vec![7u8; 300_000];
        let mut pace = Pace::new(Some(1_000_000));
        let t = Instant::now();
        let mut out = Vec::new();
        Paced {
            inner: &data[..],
            pace: &mut pace,
        }
        .read_to_end(&mut out)
        .expect("read");
        assert_eq!(out, data);
        // 300 kB at 1 MB/s: about 0.3 s (the last sleep may be cut short by the end).
        assert!(
            t.elapsed() >= Duration::from_millis(200),
            "{:?}",
            t.elapsed()
        );
        let mut free = Pace::new(None);
        let t = Instant::now();
        free.take(1 << 30);
        assert!(t.elapsed() < Duration::from_millis(50));
    }
}
