/*!
`GpioError`: why the LEDs or the button cannot be used, by kind, each naming the chip and the line
and saying what to check — with `gpioinfo` (Debian's `gpiod` package), which lists every chip,
its label and its lines with their names and users.
*/

use std::fmt;
use std::io;
use std::path::PathBuf;

use super::uapi::UapiError;
use super::LineRole;

/// A line, for messages: `line 17 "GPIO17" of gpiochip0 [pinctrl-bcm2711]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineAt {
    /// The chip's kernel name and label: `gpiochip0 [pinctrl-bcm2711]`.
    pub chip: String,
    pub offset: u32,
    /// The line's own name (may be empty).
    pub name: String,
}

impl fmt::Display for LineAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.name.is_empty() {
            write!(f, "line {} of {}", self.offset, self.chip)
        } else {
            write!(f, "line {} \"{}\" of {}", self.offset, self.name, self.chip)
        }
    }
}

/// A GPIO failure of the front panel.
#[derive(Debug)]
pub enum GpioError {
    /// `/dev` has no GPIO character device at all.
    NoChips,
    /// `/dev` could not be listed.
    ListChips(UapiError),
    /// A chip could not be opened or read.
    ChipUnreadable { chip: PathBuf, error: UapiError },
    /// The configured `gpio_chip` is not there.
    ChipNotFound {
        wanted: String,
        present: Vec<String>,
    },
    /// The configured `gpio_chip` path is not a GPIO chip.
    NotAChip { path: PathBuf },
    /// Several chips carry the configured label.
    ChipAmbiguous {
        wanted: String,
        matching: Vec<String>,
    },
    /// `gpio_chip = "auto"`, a line is given by number, and no chip has a line named `GPIO17`.
    NoHeaderChip {
        role: LineRole,
        present: Vec<String>,
    },
    /// No line of this name (on the chosen chip, or with `auto` on any chip).
    LineNameNotFound {
        role: LineRole,
        name: String,
        /// The chip searched; `None`: every chip.
        chip: Option<String>,
    },
    /// The offset is beyond the chip's last line.
    OffsetOutOfRange {
        role: LineRole,
        chip: String,
        offset: u32,
        lines: usize,
    },
    /// GPIO 2 or 3 of the Raspberry Pi header: the OLED's I2C bus.
    I2cLine { role: LineRole, line: LineAt },
    /// Two parts are set to the same line.
    SameLine {
        first: LineRole,
        second: LineRole,
        line: LineAt,
    },
    /// A driver or another program holds the line.
    LineBusy {
        role: LineRole,
        line: LineAt,
        consumer: String,
    },
    /// The kernel refused the request for another reason.
    Request {
        role: LineRole,
        line: LineAt,
        error: UapiError,
    },
    /// Setting the LEDs or waiting for the button failed after the lines were requested.
    Io {
        /// What was being done: "setting the LED lines".
        doing: &'static str,
        error: UapiError,
    },
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

/// What to check after a failed system call, by its kind.
fn os_hint(error: &UapiError) -> &'static str {
    match error.os_kind() {
        Some(io::ErrorKind::PermissionDenied) => {
            " (run the agent as root; its systemd unit needs `DeviceAllow=char-gpiochip rw`)"
        }
        Some(io::ErrorKind::NotFound) => " (the chip is gone: check `gpioinfo`)",
        _ => " (check the chip and its lines with `gpioinfo`, Debian package gpiod)",
    }
}

impl fmt::Display for GpioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GpioError::NoChips => write!(
                f,
                "there is no GPIO chip (no /dev/gpiochip*): this kernel has no GPIO driver for \
                 this board, or the service cannot see the devices (check `ls -l /dev/gpiochip*` \
                 and `gpioinfo` from the gpiod package)"
            ),
            GpioError::ListChips(e) => {
                write!(f, "cannot list /dev to find the GPIO chips: {e}")
            }
            GpioError::ChipUnreadable { chip, error } => write!(
                f,
                "cannot read the GPIO chip {}: {error}{}",
                chip.display(),
                os_hint(error)
            ),
            GpioError::ChipNotFound { wanted, present } => write!(
                f,
                "there is no GPIO chip \"{wanted}\" ([panel] gpio_chip); the chips here are: {}. \
                 Give a path (/dev/gpiochip0), a name (gpiochip0) or a label (pinctrl-bcm2711) \
                 as `gpioinfo` shows them, or \"auto\"",
                list(present)
            ),
            GpioError::NotAChip { path } => write!(
                f,
                "{} is not a GPIO chip ([panel] gpio_chip): give /dev/gpiochipN as `gpioinfo` \
                 lists them, or \"auto\"",
                path.display()
            ),
            GpioError::ChipAmbiguous { wanted, matching } => write!(
                f,
                "several GPIO chips have the label \"{wanted}\" ({}): set [panel] gpio_chip to one \
                 of them by name or path",
                list(matching)
            ),
            GpioError::NoHeaderChip { role, present } => write!(
                f,
                "the {role} is given by number ([panel] {key}), but no GPIO chip has a line named \
                 \"{mark}\", so this is not a Raspberry Pi header as Raspberry Pi OS and Debian \
                 name it; the chips here are: {}. Set [panel] gpio_chip to the chip, or \
                 {key}_line to the line's name, as `gpioinfo` shows them",
                list(present),
                key = role.key(),
                mark = super::HEADER_MARK,
            ),
            GpioError::LineNameNotFound { role, name, chip } => write!(
                f,
                "there is no line named \"{name}\" for the {role} ([panel] {}_line) on {}: \
                 `gpioinfo` lists the line names; check the spelling, or give the number in \
                 [panel] {} instead",
                role.key(),
                chip.as_deref().unwrap_or("any GPIO chip"),
                role.key(),
            ),
            GpioError::OffsetOutOfRange {
                role,
                chip,
                offset,
                lines,
            } => write!(
                f,
                "the {role} is set to line {offset} ([panel] {}), but {chip} has only {lines} \
                 lines (0 to {}): check the number against `gpioinfo`",
                role.key(),
                lines.saturating_sub(1)
            ),
            GpioError::I2cLine { role, line } => write!(
                f,
                "the {role} is set to {line}, which is GPIO 2 or 3 of the Raspberry Pi header: \
                 the OLED's I2C bus. Choose another line ([panel] {})",
                role.key()
            ),
            GpioError::SameLine {
                first,
                second,
                line,
            } => write!(
                f,
                "the {first} and the {second} are both set to {line}: every part needs its own \
                 line ([panel] {}, {})",
                first.key(),
                second.key()
            ),
            GpioError::LineBusy {
                role,
                line,
                consumer,
            } => {
                let who = if consumer.is_empty() {
                    "a driver or another program".to_string()
                } else {
                    format!("\"{consumer}\"")
                };
                write!(
                    f,
                    "{line}, for the {role}, is in use by {who}: stop that program or remove the \
                     device-tree overlay that claims the pin (`gpioinfo` shows who holds it), or \
                     choose another line ([panel] {})",
                    role.key()
                )
            }
            GpioError::Request { role, line, error } => write!(
                f,
                "the kernel refused {line} for the {role}: {error}{}",
                os_hint(error)
            ),
            GpioError::Io { doing, error } => {
                write!(f, "{doing} failed: {error}{}", os_hint(error))
            }
        }
    }
}

impl std::error::Error for GpioError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            GpioError::ListChips(e)
            | GpioError::ChipUnreadable { error: e, .. }
            | GpioError::Request { error: e, .. }
            | GpioError::Io { error: e, .. } => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The permission hint names the unit's own rule, and the unit has it (and no longer the
    /// register-mapping devices).
    #[test]
    fn the_permission_hint_matches_the_unit() {
        let unit = include_str!("../../../systemd/simdondar-backup.service");
        let denied = UapiError::Os(io::Error::from_raw_os_error(libc::EACCES));
        let hint = os_hint(&denied);
        let rule = "DeviceAllow=char-gpiochip rw";
        assert!(hint.contains(rule), "{hint}");
        assert!(
            unit.lines().any(|l| l.trim() == rule),
            "the unit lacks {rule}"
        );
        assert!(
            !unit
                .lines()
                .any(|l| l.starts_with("DeviceAllow=") && l.contains("gpiomem")),
            "nothing maps GPIO registers any more"
        );
    }
}
