/*!
The front panel (DESIGN.md §5): a 128×64 SSD1306 OLED, three LEDs and one button.

- [`status`]: the one status model the screens and LEDs are pure functions of.
- [`texts`]: every text in Bahasa Indonesia and English.
- [`screens`]: the OLED screens, pure `embedded-graphics` drawing.
- [`frame`]: the 128×64 picture the screens render into; PNG in and out.
- [`leds`]: the LED patterns.
- [`button`]: the press recogniser (debounce, short and long press).
*/

pub mod button;
pub mod error;
pub mod frame;
pub mod leds;
pub mod screens;
pub mod status;
pub mod texts;

pub use error::PanelError;
pub use frame::Frame;
pub use status::*;
