/*!
The real LEDs and button on the Raspberry Pi's GPIO through `rppal`: LEDs on BCM 17 (green),
27 (amber), 22 (red) as outputs; the button on BCM 23 to GND with the internal pull-up, so
pressed reads low, watched by an interrupt on both edges. Off a Raspberry Pi `rppal` fails to
start, which the panel reports as missing hardware.
*/

use std::time::{Duration, Instant};

use rppal::gpio::{Gpio, InputPin, OutputPin, Trigger};

use super::hardware::{ButtonInput, Leds, LevelChange};
use super::leds::{LedState, Lit};
use super::PanelError;

/// BCM pin numbers of the LEDs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LedPins {
    pub green: u8,
    pub amber: u8,
    pub red: u8,
}

impl Default for LedPins {
    fn default() -> Self {
        LedPins {
            green: 17,
            amber: 27,
            red: 22,
        }
    }
}

fn gpio_err(part: &'static str) -> impl Fn(rppal::gpio::Error) -> PanelError {
    move |e| PanelError::Gpio {
        part,
        what: e.to_string(),
    }
}

/// The three LEDs on GPIO outputs (lit = high).
#[derive(Debug)]
pub struct GpioLeds {
    green: OutputPin,
    amber: OutputPin,
    red: OutputPin,
}

impl GpioLeds {
    /// Claims the three pins as outputs, all off.
    pub fn open(pins: LedPins) -> Result<GpioLeds, PanelError> {
        let err = gpio_err("LEDs");
        let gpio = Gpio::new().map_err(&err)?;
        let out = |pin: u8| -> Result<OutputPin, PanelError> {
            Ok(gpio.get(pin).map_err(&err)?.into_output_low())
        };
        Ok(GpioLeds {
            green: out(pins.green)?,
            amber: out(pins.amber)?,
            red: out(pins.red)?,
        })
    }
}

impl Leds for GpioLeds {
    fn set(&mut self, _pattern: &LedState, lit: Lit) -> Result<(), PanelError> {
        self.green.write(lit.green.into());
        self.amber.write(lit.amber.into());
        self.red.write(lit.red.into());
        Ok(())
    }
}

/// The button on a GPIO input with the internal pull-up (pressed = low).
#[derive(Debug)]
pub struct GpioButton {
    pin: InputPin,
}

impl GpioButton {
    /// Claims `pin` as an input with pull-up and an interrupt on both edges.
    pub fn open(pin: u8) -> Result<GpioButton, PanelError> {
        let err = gpio_err("button");
        let gpio = Gpio::new().map_err(&err)?;
        let mut pin = gpio.get(pin).map_err(&err)?.into_input_pullup();
        pin.set_interrupt(Trigger::Both, None).map_err(&err)?;
        Ok(GpioButton { pin })
    }
}

impl ButtonInput for GpioButton {
    fn wait_change(&mut self, timeout: Duration) -> Result<Option<LevelChange>, PanelError> {
        let event = self
            .pin
            .poll_interrupt(false, Some(timeout))
            .map_err(gpio_err("button"))?;
        Ok(event.map(|e| LevelChange {
            pressed: e.trigger == Trigger::FallingEdge,
            at: Instant::now(),
        }))
    }
}
