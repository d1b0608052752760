/*!
The upload's rate limit: a reader that holds its caller back so that the bytes it hands out, over
the whole upload, stay under `bandwidth` bytes per second (a UTD's uplink is shared with
SIMDONDAR's own users). Sleeps are short, so a stop request is seen within a fraction of a second.
*/

use std::io::Read;
use std::time::{Duration, Instant};

/// Paces bytes to a rate, across every reader that borrows it.
#[derive(Debug)]
pub struct Pace {
    rate: Option<u64>,
    started: Instant,
    bytes: u64,
}

impl Pace {
    /// `rate` in bytes per second; `None`: no limit.
    pub fn new(rate: Option<u64>) -> Pace {
        Pace {
            rate,
            started: Instant::now(),
            bytes: 0,
        }
    }

    /// Counts `n` bytes and waits until they fit the rate.
    pub fn take(&mut self, n: usize) {
        self.bytes += n as u64;
        let Some(rate) = self.rate.filter(|r| *r > 0) else {
            return;
        };
        let due = Duration::from_secs_f64(self.bytes as f64 / rate as f64);
        let elapsed = self.started.elapsed();
        if due > elapsed {
            std::thread::sleep((due - elapsed).min(Duration::from_secs(1)));
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
