/*!
The seam between the panel's GPIO logic and the kernel: the few operations of the GPIO character
device (uAPI v2) the LEDs and the button need — list the chips, read a chip's lines, request
outputs, set their levels, request an input with pull-up, debounce and edge events, wait for an
edge. [`super::cdev`] implements them on `/dev/gpiochipN` through `gpiocdev`; the tests use a fake.
Everything that decides (which chip, which line, which level, what an edge means) lives above
this trait, in [`super::resolve`], [`super::leds`] and [`super::button`].
*/

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Pull;

/// One line of a chip, as the kernel describes it (`gpioinfo` prints the same).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LineInfo {
    /// Its name, from the device tree (`GPIO17`); may be empty.
    pub name: String,
    /// A driver or a program holds it.
    pub used: bool,
    /// Who holds it (may be empty, also when it is used).
    pub consumer: String,
}

/// A GPIO chip: `/dev/gpiochipN`, its kernel name and label, its lines by offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChipInfo {
    /// The character device.
    pub path: PathBuf,
    /// The kernel's name, `gpiochipN`.
    pub name: String,
    /// What the driver calls it: `pinctrl-bcm2711`, `pinctrl-rp1`, `9030000.pl061`…
    pub label: String,
    /// Line `i` is offset `i`.
    pub lines: Vec<LineInfo>,
}

impl ChipInfo {
    /// The offset of the first line named `name`.
    pub fn offset_of(&self, name: &str) -> Option<u32> {
        self.lines
            .iter()
            .position(|l| l.name == name)
            .and_then(|i| u32::try_from(i).ok())
    }

    /// The line at `offset`.
    pub fn line(&self, offset: u32) -> Option<&LineInfo> {
        usize::try_from(offset).ok().and_then(|i| self.lines.get(i))
    }
}

impl fmt::Display for ChipInfo {
    /// As `gpiodetect` prints it: `gpiochip0 [pinctrl-bcm2711] (58 lines)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} [{}] ({} lines)",
            self.name,
            self.label,
            self.lines.len()
        )
    }
}

/// An edge on the button's line, after the kernel's debounce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edge {
    /// The line went high (with the pull-up: the button was released); `false`: it went low
    /// (pressed).
    pub rising: bool,
    /// How long ago the kernel saw it (its timestamp against the monotonic clock now).
    pub age: Duration,
}

/// What the kernel or the library said when an operation failed.
#[derive(Debug)]
pub enum UapiError {
    /// The path is not a GPIO character device.
    NotAChip,
    /// The kernel does not offer uAPI v2 (Linux before 5.10).
    NoV2,
    /// A system call failed: the kind says why (not found, permission denied, busy…).
    Os(io::Error),
    /// Anything else the library reports (an answer from the kernel it did not expect).
    Other(String),
}

impl UapiError {
    /// The kind of a failed system call; `None` for the other errors.
    pub fn os_kind(&self) -> Option<io::ErrorKind> {
        match self {
            UapiError::Os(e) => Some(e.kind()),
            _ => None,
        }
    }
}

impl Clone for UapiError {
    fn clone(&self) -> Self {
        match self {
            UapiError::NotAChip => UapiError::NotAChip,
            UapiError::NoV2 => UapiError::NoV2,
            UapiError::Os(e) => UapiError::Os(match e.raw_os_error() {
                Some(code) => io::Error::from_raw_os_error(code),
                None => io::Error::new(e.kind(), e.to_string()),
            }),
            UapiError::Other(s) => UapiError::Other(s.clone()),
        }
    }
}

impl fmt::Display for UapiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UapiError::NotAChip => write!(f, "not a GPIO character device"),
            UapiError::NoV2 => write!(
                f,
                "the kernel does not offer the GPIO character device uAPI v2 (Linux 5.10 or newer is needed)"
            ),
            UapiError::Os(e) => write!(f, "{e}"),
            UapiError::Other(s) => write!(f, "{s}"),
        }
    }
}

impl std::error::Error for UapiError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            UapiError::Os(e) => Some(e),
            _ => None,
        }
    }
}

/// The GPIO character devices of this machine.
pub trait GpioUapi {
    /// The paths of the chips, in the kernel's order (`gpiochip0`, `gpiochip1`, … `gpiochip10`).
    fn chips(&self) -> Result<Vec<PathBuf>, UapiError>;
    /// A chip's name, label and lines.
    fn chip_info(&self, chip: &Path) -> Result<ChipInfo, UapiError>;
    /// Requests `offsets` of `chip` as outputs, all low. The lines are held until the returned
    /// request is dropped.
    fn request_outputs(
        &self,
        chip: &Path,
        offsets: &[u32],
    ) -> Result<Box<dyn OutputLines>, UapiError>;
    /// Requests `offset` of `chip` as an input with the bias `pull`, the kernel's debounce of
    /// `debounce`, and edge events on both edges.
    fn request_edges(
        &self,
        chip: &Path,
        offset: u32,
        pull: Pull,
        debounce: Duration,
    ) -> Result<Box<dyn EdgeLines>, UapiError>;
}

/// Requested output lines.
pub trait OutputLines: Send {
    /// Drives each listed offset high (`true`) or low.
    fn set(&mut self, levels: &[(u32, bool)]) -> Result<(), UapiError>;
}

/// A requested input line with edge events.
pub trait EdgeLines: Send {
    /// Waits up to `timeout` for the next edge (blocking in the kernel, not polling);
    /// `Ok(None)` when there was none.
    fn wait_edge(&mut self, timeout: Duration) -> Result<Option<Edge>, UapiError>;
}
