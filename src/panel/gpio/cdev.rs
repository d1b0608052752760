/*!
[`Cdev`]: the [`GpioUapi`] on the kernel's GPIO character devices, through `gpiocdev` (uAPI v2
only). The lines are requested with the consumer `simdondar-backup`, which `gpioinfo` shows next
to them. Errors become [`UapiError`]s by kind (the errno, "not a GPIO chip"), never by text.
*/

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use gpiocdev::line::{Bias, EdgeDetection, EdgeKind, EventClock, Value, Values};
use gpiocdev::{Chip, Request};

use super::uapi::{ChipInfo, Edge, EdgeLines, GpioUapi, LineInfo, OutputLines, UapiError};
use super::Pull;

/// Who holds the lines, as `gpioinfo` shows it.
pub const CONSUMER: &str = "simdondar-backup";

/// The GPIO character devices of this machine (`/dev/gpiochipN`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Cdev;

fn os(errno: i32) -> UapiError {
    if errno == libc::ENOTTY {
        // The ioctl is unknown: a kernel without uAPI v2.
        UapiError::NoV2
    } else {
        UapiError::Os(io::Error::from_raw_os_error(errno))
    }
}

/// The kind of a `gpiocdev` error.
fn uapi_error(e: gpiocdev::Error) -> UapiError {
    match e {
        gpiocdev::Error::GpioChip(..) => UapiError::NotAChip,
        gpiocdev::Error::Os(errno) => os(errno.0),
        gpiocdev::Error::Uapi(_, gpiocdev_uapi::Error::Os(errno)) => os(errno.0),
        gpiocdev::Error::UnsupportedAbi(..) | gpiocdev::Error::NoAbiSupport() => UapiError::NoV2,
        other => UapiError::Other(other.to_string()),
    }
}

/// How long ago an event stamped `timestamp_ns` on the monotonic clock happened.
pub fn age_of(timestamp_ns: u64, now: Duration) -> Duration {
    now.saturating_sub(Duration::from_nanos(timestamp_ns))
}

impl GpioUapi for Cdev {
    fn chips(&self) -> Result<Vec<PathBuf>, UapiError> {
        gpiocdev::chip::chips().map_err(uapi_error)
    }

    fn chip_info(&self, chip: &Path) -> Result<ChipInfo, UapiError> {
        // `gpiocdev` takes the file name of the resolved path; a path without one is no chip.
        let resolved = std::fs::canonicalize(chip).map_err(UapiError::Os)?;
        if resolved.file_name().is_none() {
            return Err(UapiError::NotAChip);
        }
        let c = Chip::from_path(&resolved).map_err(uapi_error)?;
        let info = c.info().map_err(uapi_error)?;
        let mut lines = Vec::new();
        for li in c.line_info_iter().map_err(uapi_error)? {
            let li = li.map_err(uapi_error)?;
            lines.push(LineInfo {
                name: li.name,
                used: li.used,
                consumer: li.consumer,
            });
        }
        Ok(ChipInfo {
            path: c.path().to_path_buf(),
            name: info.name,
            label: info.label,
            lines,
        })
    }

    fn request_outputs(
        &self,
        chip: &Path,
        offsets: &[u32],
    ) -> Result<Box<dyn OutputLines>, UapiError> {
        let request = Request::builder()
            .on_chip(chip)
            .with_consumer(CONSUMER)
            .with_lines(offsets)
            .as_output(Value::Inactive)
            .request()
            .map_err(uapi_error)?;
        Ok(Box::new(CdevOutputs { request }))
    }

    fn request_edges(
        &self,
        chip: &Path,
        offset: u32,
        pull: Pull,
        debounce: Duration,
    ) -> Result<Box<dyn EdgeLines>, UapiError> {
        let request = Request::builder()
            .on_chip(chip)
            .with_consumer(CONSUMER)
            .with_line(offset)
            .as_input()
            .with_bias(match pull {
                Pull::Up => Bias::PullUp,
                Pull::Down => Bias::PullDown,
            })
            .with_debounce_period(debounce)
            .with_edge_detection(EdgeDetection::BothEdges)
            .with_event_clock(EventClock::Monotonic)
            .request()
            .map_err(uapi_error)?;
        Ok(Box::new(CdevEdges { request }))
    }
}

/// Output lines held by a `gpiocdev` request.
struct CdevOutputs {
    request: Request,
}

impl OutputLines for CdevOutputs {
    fn set(&mut self, levels: &[(u32, bool)]) -> Result<(), UapiError> {
        let mut values = Values::default();
        for &(offset, high) in levels {
            values.set(offset, if high { Value::Active } else { Value::Inactive });
        }
        self.request.set_values(&values).map_err(uapi_error)
    }
}

/// An input line with edge events held by a `gpiocdev` request.
struct CdevEdges {
    request: Request,
}

impl EdgeLines for CdevEdges {
    fn wait_edge(&mut self, timeout: Duration) -> Result<Option<Edge>, UapiError> {
        if !self.request.wait_edge_event(timeout).map_err(uapi_error)? {
            return Ok(None);
        }
        let event = self.request.read_edge_event().map_err(uapi_error)?;
        let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
            .map(Duration::from)
            .map_err(|e| UapiError::Os(io::Error::from(e)))?;
        Ok(Some(Edge {
            rising: event.kind == EdgeKind::Rising,
            age: age_of(event.timestamp_ns, now),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::panel::gpio::{ChipSpec, GpioError, GpioLeds, GpioLines};

    fn no_chips_here() -> bool {
        Cdev.chips().map(|c| c.is_empty()).unwrap_or(false)
    }

    /// The real chip discovery on this machine: where the kernel has no GPIO (a build machine,
    /// a container), the LEDs fail with the typed "no GPIO chip" error, not a panic or a vague
    /// message.
    #[test]
    fn no_gpio_chip_is_the_typed_error() {
        if !no_chips_here() {
            // A machine with GPIO chips: the discovery must at least read them all.
            let chips = Cdev.chips().expect("list chips");
            for c in chips {
                Cdev.chip_info(&c).expect("chip info");
            }
            return;
        }
        let e = GpioLeds::open(&Cdev, &GpioLines::default()).unwrap_err();
        assert!(matches!(e, GpioError::NoChips), "{e:?}");
        assert!(e.to_string().contains("gpioinfo"), "{e}");
    }

    /// A path that is no GPIO chip, through the real `gpiocdev` checks.
    #[test]
    fn a_device_that_is_no_gpio_chip_is_refused_by_kind() {
        assert!(matches!(
            Cdev.chip_info(Path::new("/dev/null")),
            Err(UapiError::NotAChip)
        ));
        assert!(matches!(
            Cdev.chip_info(Path::new("/")),
            Err(UapiError::NotAChip)
        ));
        let missing = Cdev.chip_info(Path::new("/dev/gpiochip-none")).unwrap_err();
        assert_eq!(
            missing.os_kind(),
            Some(io::ErrorKind::NotFound),
            "{missing:?}"
        );
        let lines = GpioLines {
            chip: ChipSpec::Given("/dev/null".into()),
            ..GpioLines::default()
        };
        let e = GpioLeds::open(&Cdev, &lines).unwrap_err();
        assert!(matches!(e, GpioError::NotAChip { .. }), "{e:?}");
        let lines = GpioLines {
            chip: ChipSpec::Given("/dev/gpiochip-none".into()),
            ..GpioLines::default()
        };
        let e = GpioLeds::open(&Cdev, &lines).unwrap_err();
        assert!(matches!(e, GpioError::ChipNotFound { .. }), "{e:?}");
    }

    /// A request on a missing chip fails in `gpiocdev` with the errno's kind.
    #[test]
    fn requests_on_a_missing_chip_fail_by_kind() {
        let chip = Path::new("/dev/gpiochip-none");
        let e = Cdev.request_outputs(chip, &[17]).err().expect("no chip");
        assert_eq!(e.os_kind(), Some(io::ErrorKind::NotFound), "{e:?}");
        let e = Cdev
            .request_edges(chip, 23, Pull::Up, Duration::from_millis(20))
            .err()
            .expect("no chip");
        assert_eq!(e.os_kind(), Some(io::ErrorKind::NotFound), "{e:?}");
    }

    #[test]
    fn the_age_of_an_event() {
        let now = Duration::from_secs(100);
        assert_eq!(age_of(99_750_000_000, now), Duration::from_millis(250));
        // A timestamp from the future (another clock) is no age, not an underflow.
        assert_eq!(age_of(200_000_000_000, now), Duration::ZERO);
    }

    #[test]
    fn errors_keep_their_kind() {
        let e = uapi_error(gpiocdev::Error::Os(gpiocdev_uapi::Errno(libc::EBUSY)));
        assert_eq!(e.os_kind(), Some(io::ErrorKind::ResourceBusy));
        let e = uapi_error(gpiocdev::Error::Uapi(
            gpiocdev::UapiCall::GetLine,
            gpiocdev_uapi::Error::Os(gpiocdev_uapi::Errno(libc::EACCES)),
        ));
        assert_eq!(e.os_kind(), Some(io::ErrorKind::PermissionDenied));
        let e = uapi_error(gpiocdev::Error::Uapi(
            gpiocdev::UapiCall::GetLineInfo,
            gpiocdev_uapi::Error::Os(gpiocdev_uapi::Errno(libc::ENOTTY)),
        ));
        assert!(matches!(e, UapiError::NoV2), "{e:?}");
        let e = uapi_error(gpiocdev::Error::GpioChip(
            "/dev/null".into(),
            gpiocdev::chip::ErrorKind::NotGpioDevice,
        ));
        assert!(matches!(e, UapiError::NotAChip), "{e:?}");
    }
}
