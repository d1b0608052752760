//! A background sampler of every process's argv and environment (DESIGN.md §4.6: credentials
//! never appear in any process's argv or environment). [`ProcScan::start`] takes the secrets to
//! look for; a thread then reads `/proc/*/cmdline` and `/proc/*/environ` of every process, again
//! and again, until [`ProcScan::stop`] returns a [`Report`]: every place a secret was seen, the
//! number of complete passes over `/proc`, and for each program name (the base name of argv[0])
//! in how many passes a process of that name was read. A test asserts that there are no hits,
//! that passes were made, and that the program it meant to watch was actually seen, so it cannot
//! pass by sampling while nothing ran.
//!
//! Secrets should be unique to the test (made at run time): other tests running in parallel
//! must not be able to produce them. Start the sampler after the set-up that handles the secrets
//! on purpose (creating a database user, say) and before what is under test.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// One secret found where it must not be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub pid: u32,
    /// The base name of the process's argv[0] (or its `comm` when argv is empty).
    pub program: String,
    /// `cmdline` or `environ`.
    pub file: &'static str,
    /// The label the secret was given.
    pub secret: String,
}

/// What a sampler saw.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Secrets found, each (pid, file, secret) once.
    pub hits: Vec<Hit>,
    /// Complete passes over `/proc`.
    pub samples: u64,
    /// Program name → the number of passes in which a process of that name was read (both its
    /// `cmdline` and its `environ`).
    pub seen: BTreeMap<String, u64>,
}

impl Report {
    /// In how many passes a process named `program` was read.
    pub fn saw(&self, program: &str) -> u64 {
        self.seen.get(program).copied().unwrap_or(0)
    }

    /// Panics unless passes were made, each of `programs` was read at least once, and no secret
    /// was seen anywhere.
    pub fn assert_clean_while(&self, programs: &[&str]) {
        assert!(self.samples > 0, "the sampler made no pass over /proc");
        for p in programs {
            assert!(
                self.saw(p) > 0,
                "the sampler never saw a `{p}` process in {} passes, so it proves nothing about it (seen: {:?})",
                self.samples,
                self.seen.keys().collect::<Vec<_>>()
            );
        }
        assert!(
            self.hits.is_empty(),
            "secrets visible to other users in /proc: {:#?}",
            self.hits
        );
    }
}

/// A running sampler; see the module documentation.
pub struct ProcScan {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Report>>,
}

impl ProcScan {
    /// Starts sampling for these `(label, secret)` pairs (each secret at least 8 bytes, so that
    /// a hit means something).
    pub fn start(secrets: &[(&str, &str)]) -> ProcScan {
        let secrets: Vec<(String, Vec<u8>)> = secrets
            .iter()
            .map(|(l, s)| {
                assert!(s.len() >= 8, "secret {l} is too short to scan for");
                (l.to_string(), s.as_bytes().to_vec())
            })
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("procscan".into())
            .spawn(move || sample(&secrets, &flag))
            .expect("start the procscan thread");
        ProcScan {
            stop,
            handle: Some(handle),
        }
    }

    /// Stops sampling (after finishing the current pass) and returns what was seen.
    pub fn stop(mut self) -> Report {
        self.stop.store(true, Ordering::Relaxed);
        self.handle
            .take()
            .expect("a running sampler")
            .join()
            .expect("the procscan thread panicked")
    }
}

impl Drop for ProcScan {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn program_name(pid_dir: &Path, cmdline: &[u8]) -> String {
    let argv0 = cmdline.split(|b| *b == 0).next().unwrap_or(&[]);
    let name = argv0.rsplit(|b| *b == b'/').next().unwrap_or(argv0);
    if name.is_empty() {
        std::fs::read_to_string(pid_dir.join("comm"))
            .map(|c| c.trim().to_string())
            .unwrap_or_default()
    } else {
        String::from_utf8_lossy(name).into_owned()
    }
}

fn sample(secrets: &[(String, Vec<u8>)], stop: &AtomicBool) -> Report {
    let mut report = Report::default();
    // Finish at least one pass even when stopped at once.
    loop {
        let Ok(rd) = std::fs::read_dir("/proc") else {
            panic!("cannot read /proc: the scan needs a mounted procfs");
        };
        let mut programs: Vec<String> = Vec::new();
        for e in rd.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            let dir = e.path();
            // A process may end between the listing and the reads: then it is skipped.
            let Ok(cmdline) = std::fs::read(dir.join("cmdline")) else {
                continue;
            };
            let Ok(environ) = std::fs::read(dir.join("environ")) else {
                continue;
            };
            let program = program_name(&dir, &cmdline);
            for (file, bytes) in [("cmdline", &cmdline), ("environ", &environ)] {
                for (label, needle) in secrets {
                    if contains(bytes, needle)
                        && !report
                            .hits
                            .iter()
                            .any(|h| h.pid == pid && h.file == file && &h.secret == label)
                    {
                        report.hits.push(Hit {
                            pid,
                            program: program.clone(),
                            file,
                            secret: label.clone(),
                        });
                    }
                }
            }
            if !cmdline.is_empty() && !programs.contains(&program) {
                programs.push(program);
            }
        }
        report.samples += 1;
        for p in programs {
            *report.seen.entry(p).or_default() += 1;
        }
        if stop.load(Ordering::Relaxed) {
            return report;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}
