/*!
A fake [`GpioUapi`] for the tests: chips described in code, requests recorded, output levels and
scripted edges shared with the test through `Arc<Mutex<…>>`, failures injected by kind.
*/

use std::collections::{HashMap, VecDeque};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::uapi::{ChipInfo, Edge, EdgeLines, GpioUapi, LineInfo, OutputLines, UapiError};
use super::Pull;

/// A request the fake was asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Asked {
    Outputs {
        chip: PathBuf,
        offsets: Vec<u32>,
    },
    Edges {
        chip: PathBuf,
        offset: u32,
        pull: Pull,
        debounce: Duration,
    },
}

/// What the fake chips hold and were told.
#[derive(Default)]
pub struct Shared {
    /// Every request, in order.
    pub asked: Vec<Asked>,
    /// The level of every output line, by (chip, offset); missing = never set.
    pub levels: HashMap<(PathBuf, u32), bool>,
    /// Every `set` call, by chip.
    pub sets: Vec<(PathBuf, Vec<(u32, bool)>)>,
    /// The edges `wait_edge` returns, one per call; `None`: a timeout.
    pub edges: VecDeque<Result<Option<Edge>, UapiError>>,
    /// The timeouts `wait_edge` was called with.
    pub waits: Vec<Duration>,
    /// Fail every `set` with this errno.
    pub set_fails: Option<i32>,
}

/// The fake chips.
#[derive(Clone, Default)]
pub struct FakeGpio {
    pub chips: Vec<ChipInfo>,
    /// `chip_info` fails for these paths with these errors.
    pub unreadable: Vec<(PathBuf, UapiError)>,
    /// Paths that exist but are not GPIO chips.
    pub not_chips: Vec<PathBuf>,
    /// Requests fail with this errno.
    pub request_fails: Option<i32>,
    /// Listing `/dev` fails.
    pub list_fails: bool,
    pub shared: Arc<Mutex<Shared>>,
}

/// A chip `gpiochipN` with `label` and named lines (`""` for an unnamed one).
pub fn chip(n: u32, label: &str, names: &[&str]) -> ChipInfo {
    ChipInfo {
        path: PathBuf::from(format!("/dev/gpiochip{n}")),
        name: format!("gpiochip{n}"),
        label: label.to_string(),
        lines: names
            .iter()
            .map(|name| LineInfo {
                name: name.to_string(),
                ..LineInfo::default()
            })
            .collect(),
    }
}

/// A Raspberry Pi 4's header chip as Raspberry Pi OS names its lines.
pub fn bcm2711(n: u32) -> ChipInfo {
    let mut names: Vec<String> = (0..58).map(|i| format!("GPIO{i}")).collect();
    for (i, special) in [
        (0, "ID_SDA"),
        (1, "ID_SCL"),
        (2, "SDA1"),
        (3, "SCL1"),
        (4, "GPIO_GCLK"),
    ] {
        names[i] = special.to_string();
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    chip(n, "pinctrl-bcm2711", &refs)
}

impl FakeGpio {
    pub fn with(chips: Vec<ChipInfo>) -> FakeGpio {
        FakeGpio {
            chips,
            ..FakeGpio::default()
        }
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().expect("fake lock")
    }

    /// Marks `offset` of chip `n` as held by `consumer`.
    pub fn hold(&mut self, n: usize, offset: usize, consumer: &str) {
        let line = &mut self.chips[n].lines[offset];
        line.used = true;
        line.consumer = consumer.to_string();
    }

    fn check_request(&self, chip: &Path) -> Result<(), UapiError> {
        if let Some(errno) = self.request_fails {
            return Err(UapiError::Os(io::Error::from_raw_os_error(errno)));
        }
        if !self.chips.iter().any(|c| c.path == chip) {
            return Err(UapiError::Os(io::Error::from_raw_os_error(libc::ENOENT)));
        }
        Ok(())
    }
}

impl GpioUapi for FakeGpio {
    fn chips(&self) -> Result<Vec<PathBuf>, UapiError> {
        if self.list_fails {
            return Err(UapiError::Os(io::Error::from_raw_os_error(libc::EACCES)));
        }
        let mut paths: Vec<PathBuf> = self.chips.iter().map(|c| c.path.clone()).collect();
        paths.extend(self.unreadable.iter().map(|(p, _)| p.clone()));
        paths.sort_by(|a, b| gpiocdev::chip::path_compare(a, b));
        Ok(paths)
    }

    fn chip_info(&self, chip: &Path) -> Result<ChipInfo, UapiError> {
        if let Some((_, e)) = self.unreadable.iter().find(|(p, _)| p == chip) {
            return Err(e.clone());
        }
        if self.not_chips.iter().any(|p| p == chip) {
            return Err(UapiError::NotAChip);
        }
        self.chips
            .iter()
            .find(|c| c.path == chip)
            .cloned()
            .ok_or_else(|| UapiError::Os(io::Error::from_raw_os_error(libc::ENOENT)))
    }

    fn request_outputs(
        &self,
        chip: &Path,
        offsets: &[u32],
    ) -> Result<Box<dyn OutputLines>, UapiError> {
        self.check_request(chip)?;
        let mut s = self.lock();
        s.asked.push(Asked::Outputs {
            chip: chip.to_path_buf(),
            offsets: offsets.to_vec(),
        });
        for &o in offsets {
            s.levels.insert((chip.to_path_buf(), o), false);
        }
        Ok(Box::new(FakeOutputs {
            chip: chip.to_path_buf(),
            offsets: offsets.to_vec(),
            shared: self.shared.clone(),
        }))
    }

    fn request_edges(
        &self,
        chip: &Path,
        offset: u32,
        pull: Pull,
        debounce: Duration,
    ) -> Result<Box<dyn EdgeLines>, UapiError> {
        self.check_request(chip)?;
        self.lock().asked.push(Asked::Edges {
            chip: chip.to_path_buf(),
            offset,
            pull,
            debounce,
        });
        Ok(Box::new(FakeEdges {
            shared: self.shared.clone(),
        }))
    }
}

struct FakeOutputs {
    chip: PathBuf,
    offsets: Vec<u32>,
    shared: Arc<Mutex<Shared>>,
}

impl OutputLines for FakeOutputs {
    fn set(&mut self, levels: &[(u32, bool)]) -> Result<(), UapiError> {
        let mut s = self.shared.lock().expect("fake lock");
        if let Some(errno) = s.set_fails {
            return Err(UapiError::Os(io::Error::from_raw_os_error(errno)));
        }
        for &(o, high) in levels {
            // The kernel refuses a line that is not in the request.
            if !self.offsets.contains(&o) {
                return Err(UapiError::Os(io::Error::from_raw_os_error(libc::EINVAL)));
            }
            s.levels.insert((self.chip.clone(), o), high);
        }
        s.sets.push((self.chip.clone(), levels.to_vec()));
        Ok(())
    }
}

struct FakeEdges {
    shared: Arc<Mutex<Shared>>,
}

impl EdgeLines for FakeEdges {
    fn wait_edge(&mut self, timeout: Duration) -> Result<Option<Edge>, UapiError> {
        let next = {
            let mut s = self.shared.lock().expect("fake lock");
            s.waits.push(timeout);
            s.edges.pop_front()
        };
        match next {
            Some(r) => r,
            None => {
                // Nothing scripted: block for the timeout, as the kernel's poll would.
                std::thread::sleep(timeout);
                Ok(None)
            }
        }
    }
}
