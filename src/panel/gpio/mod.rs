/*!
The real LEDs and button on the kernel's GPIO character device (uAPI v2, `/dev/gpiochipN`), so
one backend serves Raspberry Pi OS (Pi 4 and Pi 5), Debian's own kernel and other boards.

- [`GpioLines`]: which chip and which lines (`[panel] gpio_chip`, `led_green`…, `button_line`…).
- [`uapi`]: the small trait over the kernel's operations, [`cdev`] its implementation on
  `gpiocdev`.
- [`resolve`]: finding the chip and the lines by chip name or label, line name or offset.
- [`leds`]: the three LEDs as outputs, requested once and held for the daemon's life (lit = high).
- [`button`]: the button as an input with the pull-up, the kernel's debounce and edge events on
  both edges (pressed = low).
- [`error`]: what went wrong, naming the chip and the line and what to check (`gpioinfo`).
*/

pub mod button;
pub mod cdev;
pub mod error;
pub mod leds;
pub mod resolve;
pub mod uapi;

#[cfg(test)]
mod fake;

use std::fmt;

pub use button::{GpioButton, BUTTON_DEBOUNCE};
pub use cdev::Cdev;
pub use error::GpioError;
pub use leds::GpioLeds;

/// The line name that marks the Raspberry Pi's 40-pin header chip (`pinctrl-bcm2711` on a Pi 4,
/// `pinctrl-rp1` on a Pi 5 with Raspberry Pi OS): `gpio_chip = "auto"` finds the chip that has it.
pub const HEADER_MARK: &str = "GPIO17";

/// The header lines that are the OLED's I2C bus (SDA1, SCL1).
pub const HEADER_I2C: [u32; 2] = [2, 3];

/// Which chip the panel's lines are on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChipSpec {
    /// A line given by name is looked for on every chip; a line given by number is that offset
    /// (the BCM number) on the chip with a line named [`HEADER_MARK`].
    Auto,
    /// A path (`/dev/gpiochip0`), a kernel name (`gpiochip0`), a number (`0`) or a label
    /// (`pinctrl-bcm2711`).
    Given(String),
}

/// One line: an offset on the chip, or a name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LineSpec {
    Offset(u32),
    Name(String),
}

impl fmt::Display for LineSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineSpec::Offset(o) => write!(f, "line {o}"),
            LineSpec::Name(n) => write!(f, "the line named \"{n}\""),
        }
    }
}

/// The level the button's line reads while the button is pressed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Pressed {
    /// A contact to GND, the line held high by the pull-up (DESIGN.md §5's wiring).
    #[default]
    Low,
    /// A contact to 3.3 V, the line held low by the pull-down; or a line that something else
    /// drives high while pressed (qemu's `virt` power button on its PL061's line 3).
    High,
}

impl Pressed {
    /// The bias that holds the line at the released level.
    pub fn pull(self) -> Pull {
        match self {
            Pressed::Low => Pull::Up,
            Pressed::High => Pull::Down,
        }
    }
}

/// The bias asked of an input line. A chip that cannot bias its lines (the PL061) is left as it
/// is: the kernel ignores the request there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pull {
    Up,
    Down,
}

/// The panel's GPIO wiring. `Default` is DESIGN.md §5's: BCM 17, 27, 22 and 23 on the Raspberry
/// Pi's header chip, the button pressed low.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GpioLines {
    pub chip: ChipSpec,
    pub green: LineSpec,
    pub amber: LineSpec,
    pub red: LineSpec,
    pub button: LineSpec,
    pub button_pressed: Pressed,
}

impl Default for GpioLines {
    fn default() -> Self {
        GpioLines {
            chip: ChipSpec::Auto,
            green: LineSpec::Offset(17),
            amber: LineSpec::Offset(27),
            red: LineSpec::Offset(22),
            button: LineSpec::Offset(23),
            button_pressed: Pressed::Low,
        }
    }
}

impl GpioLines {
    /// The line of `role`.
    pub fn of(&self, role: LineRole) -> &LineSpec {
        match role {
            LineRole::Green => &self.green,
            LineRole::Amber => &self.amber,
            LineRole::Red => &self.red,
            LineRole::Button => &self.button,
        }
    }
}

/// What a line is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LineRole {
    Green,
    Amber,
    Red,
    Button,
}

impl LineRole {
    pub const ALL: [LineRole; 4] = [
        LineRole::Green,
        LineRole::Amber,
        LineRole::Red,
        LineRole::Button,
    ];
    pub const LEDS: [LineRole; 3] = [LineRole::Green, LineRole::Amber, LineRole::Red];

    /// The part, in words.
    pub fn part(self) -> &'static str {
        match self {
            LineRole::Green => "green LED",
            LineRole::Amber => "amber LED",
            LineRole::Red => "red LED",
            LineRole::Button => "button",
        }
    }

    /// The `[panel]` key of its number.
    pub fn key(self) -> &'static str {
        match self {
            LineRole::Green => "led_green",
            LineRole::Amber => "led_amber",
            LineRole::Red => "led_red",
            LineRole::Button => "button",
        }
    }
}

impl fmt::Display for LineRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.part())
    }
}
