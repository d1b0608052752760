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

#[cfg(test)]
mod tests {
    //! The driver path against a mock I2C bus: every byte the SSD1306 receives is checked.
    use super::*;
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction};

    const ADDR: u8 = 0x3C;

    /// A command transfer: control byte 0x00, then the command bytes.
    fn cmd(bytes: &[u8]) -> Transaction {
        let mut v = vec![0x00];
        v.extend_from_slice(bytes);
        Transaction::write(ADDR, v)
    }

    /// The SSD1306 initialisation for a 128×64 panel (datasheet order, as the driver sends it).
    fn init_sequence() -> Vec<Transaction> {
        vec![
            cmd(&[0xAE]),       // display off
            cmd(&[0xD5, 0x80]), // clock divide ratio / oscillator frequency
            cmd(&[0xA8, 0x3F]), // multiplex ratio: 64 rows
            cmd(&[0xD3, 0x00]), // display offset 0
            cmd(&[0x40]),       // start line 0
            cmd(&[0x8D, 0x14]), // charge pump on (no external VCC)
            cmd(&[0x20, 0x00]), // horizontal addressing mode
            cmd(&[0xDA, 0x12]), // COM pins: alternative configuration (128×64)
            cmd(&[0xA1]),       // segment remap (column 127 = SEG0)
            cmd(&[0xC8]),       // COM scan direction remapped
            cmd(&[0xD9, 0x21]), // pre-charge periods 1 and 2 DCLK (normal brightness)
            cmd(&[0x81, 0x5F]), // contrast (normal brightness)
            cmd(&[0xDB, 0x40]), // VCOMH deselect level ("auto", as most module vendors set it)
            cmd(&[0xA4]),       // display follows RAM
            cmd(&[0xA6]),       // normal, not inverted
            cmd(&[0x2E]),       // scrolling off
            cmd(&[0xAF]),       // display on
        ]
    }

    /// A transfer of pages `pages` and columns `cols` of `frame`: the drawing window, then the
    /// bytes in 16-byte data writes (control byte 0x40), 8 vertical pixels a byte, LSB on top.
    fn transfer(
        frame: &Frame,
        cols: std::ops::RangeInclusive<u8>,
        pages: std::ops::RangeInclusive<u8>,
    ) -> Vec<Transaction> {
        let mut t = vec![
            cmd(&[0x21, *cols.start(), *cols.end()]),
            cmd(&[0x22, *pages.start(), *pages.end()]),
        ];
        for page in pages {
            let bytes: Vec<u8> = cols
                .clone()
                .map(|x| {
                    (0..8).fold(0u8, |b, bit| {
                        let y = page as i32 * 8 + bit;
                        b | (u8::from(frame.get(x as i32, y)) << bit)
                    })
                })
                .collect();
            for chunk in bytes.chunks(16) {
                let mut v = vec![0x40];
                v.extend_from_slice(chunk);
                t.push(Transaction::write(ADDR, v));
            }
        }
        t
    }

    fn test_frame() -> Frame {
        let mut f = Frame::new();
        for i in 0..64 {
            f.set(i * 2, i, true);
            f.set(127 - i, i, true);
        }
        f
    }

    #[test]
    fn init_sequence_and_frame_transfers() {
        let blank = Frame::new();
        let frame = test_frame();
        let mut changed = frame.clone();
        changed.set(5, 10, !frame.get(5, 10));

        let mut expected = init_sequence();
        // The constructor clears the display: the whole blank frame.
        expected.extend(transfer(&blank, 0..=127, 0..=7));
        // The test frame: only the columns that changed (0..127 here) in every page touched.
        expected.extend(transfer(&frame, 0..=127, 0..=7));
        // One pixel changed: one byte, column 5 of page 1.
        expected.extend(transfer(&changed, 5..=5, 1..=1));
        // Dimming: pre-charge and contrast.
        expected.push(cmd(&[0xD9, 0x11]));
        expected.push(cmd(&[0x81, 0x00]));

        let mut bus = Mock::new(&expected);
        let mut oled = Oled::new(bus.clone(), ADDR, false, Path::new("/dev/i2c-mock"))
            .expect("the mock OLED answers");
        oled.flush(&frame).expect("frame");
        // An unchanged frame sends nothing (the mock fails on any unexpected transfer).
        oled.flush(&frame).expect("same frame");
        oled.flush(&changed).expect("one pixel");
        oled.flush(&changed).expect("same frame again");
        oled.set_dim(true).expect("dim");
        bus.done();
    }

    #[test]
    fn a_bus_error_is_returned_and_the_next_flush_reinitialises() {
        let err = embedded_hal::i2c::ErrorKind::NoAcknowledge(
            embedded_hal::i2c::NoAcknowledgeSource::Address,
        );
        let frame = test_frame();
        let mut expected = init_sequence();
        expected.extend(transfer(&Frame::new(), 0..=127, 0..=7));
        // The first command of the window fails: the cable came loose.
        expected.push(cmd(&[0x21, 0, 127]).with_error(err));
        // Back again: initialised afresh, the whole frame sent.
        expected.extend(init_sequence());
        expected.extend(transfer(&frame, 0..=127, 0..=7));

        let mut bus = Mock::new(&expected);
        let mut oled =
            Oled::new(bus.clone(), ADDR, false, Path::new("/dev/i2c-mock")).expect("answers");
        let e = oled.flush(&frame).expect_err("the bus error is returned");
        let msg = e.to_string();
        assert!(
            msg.contains("does not answer at address 0x3c") && msg.contains("not acknowledged"),
            "{msg}"
        );
        oled.flush(&frame).expect("re-initialised and sent");
        bus.done();
    }

    #[test]
    fn nothing_answering_at_start_is_an_error() {
        let err = embedded_hal::i2c::ErrorKind::NoAcknowledge(
            embedded_hal::i2c::NoAcknowledgeSource::Address,
        );
        let mut bus = Mock::new(&[cmd(&[0xAE]).with_error(err)]);
        let e = Oled::new(bus.clone(), ADDR, false, Path::new("/dev/i2c-1")).expect_err("no OLED");
        assert!(matches!(
            e,
            PanelError::OledNotAnswering { address: 0x3C, .. }
        ));
        bus.done();
    }

    #[test]
    fn a_missing_bus_device_is_an_error() {
        let e = Oled::open(Path::new("/nonexistent/i2c-9"), ADDR, false).expect_err("no bus");
        assert!(matches!(e, PanelError::I2cBusMissing { .. }), "{e}");
        assert!(e.to_string().contains("/nonexistent/i2c-9"));
    }
}
