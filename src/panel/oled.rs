/*!
The real OLED: an SSD1306 128×64 on I2C (`/dev/i2c-1`, address 0x3C by default) through the
`ssd1306` driver in buffered graphics mode over `linux-embedded-hal`'s `I2cdev`.

Only what changed is sent: a frame equal to the one shown sends nothing, a changed frame sets
only the changed pixels in the driver's buffer, and the driver then sends the smallest rectangle
holding them. After an I2C error (a loose cable) the next flush re-initialises the display and
sends the whole frame. The driver is generic over any `embedded-hal` 1.0 I2C bus, so the tests
run it against a mock bus.
*/

use std::path::{Path, PathBuf};

use embedded_hal::i2c::I2c;
use ssd1306::mode::{BufferedGraphicsMode, DisplayConfig};
use ssd1306::prelude::{Brightness, DisplayRotation, DisplaySize128x64, I2CInterface};
use ssd1306::{I2CDisplayInterface, Ssd1306};

use super::frame::{Frame, HEIGHT, WIDTH};
use super::hardware::Display;
use super::PanelError;

type Driver<I2C> =
    Ssd1306<I2CInterface<I2C>, DisplaySize128x64, BufferedGraphicsMode<DisplaySize128x64>>;

/// The SSD1306 OLED on an I2C bus.
pub struct Oled<I2C> {
    driver: Driver<I2C>,
    device: PathBuf,
    address: u8,
    /// What the display shows; `None` after an error or before the first frame.
    shown: Option<Frame>,
    dim: bool,
    needs_init: bool,
}

impl<I2C> std::fmt::Debug for Oled<I2C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oled")
            .field("device", &self.device)
            .field("address", &self.address)
            .field("dim", &self.dim)
            .finish()
    }
}

impl Oled<linux_embedded_hal::I2cdev> {
    /// Opens the I2C bus `device` and initialises the OLED at `address`; an error means there is
    /// no OLED to drive (no bus, nothing answering).
    pub fn open(device: &Path, address: u8, rotate_180: bool) -> Result<Self, PanelError> {
        let bus =
            linux_embedded_hal::I2cdev::new(device).map_err(|e| PanelError::I2cBusMissing {
                device: device.to_path_buf(),
                what: e.to_string(),
            })?;
        Oled::new(bus, address, rotate_180, device)
    }
}

impl<I2C: I2c + Send> Oled<I2C> {
    /// Initialises the OLED at `address` on `bus` and clears it; `device` names the bus in
    /// messages.
    pub fn new(bus: I2C, address: u8, rotate_180: bool, device: &Path) -> Result<Self, PanelError> {
        let interface = I2CDisplayInterface::new_custom_address(bus, address);
        let rotation = if rotate_180 {
            DisplayRotation::Rotate180
        } else {
            DisplayRotation::Rotate0
        };
        let driver =
            Ssd1306::new(interface, DisplaySize128x64, rotation).into_buffered_graphics_mode();
        let mut oled = Oled {
            driver,
            device: device.to_path_buf(),
            address,
            shown: None,
            dim: false,
            needs_init: true,
        };
        oled.flush(&Frame::new())?;
        Ok(oled)
    }

    /// The driver's `DisplayError` (a crate this one does not name) in words.
    fn error(&self, e: impl std::fmt::Debug) -> PanelError {
        let what = match format!("{e:?}").as_str() {
            "BusWriteError" => "the I2C write was not acknowledged".to_string(),
            other => format!("display error {other}"),
        };
        PanelError::OledNotAnswering {
            device: self.device.clone(),
            address: self.address,
            what,
        }
    }

    fn brightness(&self) -> Brightness {
        if self.dim {
            Brightness::DIMMEST
        } else {
            Brightness::NORMAL
        }
    }

    /// Sends the initialisation sequence (which also clears the driver's buffer).
    fn init(&mut self) -> Result<(), PanelError> {
        self.shown = None;
        self.driver.init().map_err(|e| self.error(e))?;
        if self.dim {
            self.driver
                .set_brightness(self.brightness())
                .map_err(|e| self.error(e))?;
        }
        self.needs_init = false;
        Ok(())
    }
}

impl<I2C: I2c + Send> Display for Oled<I2C> {
    fn flush(&mut self, frame: &Frame) -> Result<(), PanelError> {
        if self.needs_init {
            self.init()?;
        }
        if self.shown.as_ref() == Some(frame) {
            return Ok(());
        }
        for y in 0..HEIGHT as i32 {
            for x in 0..WIDTH as i32 {
                let on = frame.get(x, y);
                if self.shown.as_ref().is_none_or(|old| old.get(x, y) != on) {
                    self.driver.set_pixel(x as u32, y as u32, on);
                }
            }
        }
        match self.driver.flush() {
            Ok(()) => {
                self.shown = Some(frame.clone());
                Ok(())
            }
            Err(e) => {
                self.needs_init = true;
                self.shown = None;
                Err(self.error(e))
            }
        }
    }

    fn set_dim(&mut self, dim: bool) -> Result<(), PanelError> {
        self.dim = dim;
        if self.needs_init {
            return self.init();
        }
        let result = self.driver.set_brightness(self.brightness());
        result.map_err(|e| {
            self.needs_init = true;
            self.error(e)
        })
    }
}
