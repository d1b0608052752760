/*!
`PanelError`: everything that can go wrong with the front panel's hardware or its simulated
files, in words that say what to check. None of them is fatal to the agent: a part that fails to
start is left out (with a warning and an attention reason), a part that fails at run time is
retried.
*/

use std::fmt;
use std::path::PathBuf;

use super::gpio::GpioError;

/// A front-panel failure.
#[derive(Debug)]
pub enum PanelError {
    /// The I2C bus device could not be opened (no `/dev/i2c-1`: I2C not enabled, not a Pi).
    I2cBusMissing { device: PathBuf, what: String },
    /// The OLED did not answer on the bus (not connected, wrong address, loose cable).
    OledNotAnswering {
        device: PathBuf,
        address: u8,
        what: String,
    },
    /// The GPIO lines of the LEDs or the button could not be found, requested or driven.
    Gpio {
        /// "LEDs" or "button".
        part: &'static str,
        error: GpioError,
    },
    /// A file of the simulated panel could not be written.
    SimFile {
        path: PathBuf,
        error: std::io::Error,
    },
}

impl fmt::Display for PanelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PanelError::I2cBusMissing { device, what } => write!(
                f,
                "cannot open the I2C bus {}: {what} (is I2C enabled? `raspi-config nonint do_i2c 0` \
                 or `dtparam=i2c_arm=on` in config.txt, then reboot)",
                device.display()
            ),
            PanelError::OledNotAnswering {
                device,
                address,
                what,
            } => write!(
                f,
                "the OLED does not answer at address {address:#04x} on {}: {what} (check the cable \
                 to SDA GPIO 2 / SCL GPIO 3, 3.3 V and GND; `i2cdetect -y 1` should show {address:02x})",
                device.display()
            ),
            PanelError::Gpio { part, error } => write!(f, "the {part} on GPIO: {error}"),
            PanelError::SimFile { path, error } => write!(
                f,
                "cannot write the simulated panel file {}: {error} (is the state directory writable?)",
                path.display()
            ),
        }
    }
}

impl std::error::Error for PanelError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PanelError::SimFile { error, .. } => Some(error),
            PanelError::Gpio { error, .. } => Some(error),
            _ => None,
        }
    }
}
