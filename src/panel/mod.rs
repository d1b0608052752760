/*!
The front panel (DESIGN.md §5): a 128×64 SSD1306 OLED, three LEDs and one button, driven from
one status model. Pure core, thin shell:

- [`status`]: the [`Status`] model the screens and LEDs are pure functions of; date formats.
- [`texts`]: every text, Bahasa Indonesia and English.
- [`screens`]: the OLED screens (pure `embedded-graphics` drawing) into a [`Frame`] ([`frame`]).
- [`leds`]: the LED patterns. [`button`]: the press recogniser.
- [`hardware`]: the `Display`, `Leds` and `ButtonInput` traits, and the button thread;
  [`oled`] and [`gpio`] the real parts, [`sim`] the simulated ones.
- [`runner`]: the [`Panel`] that owns the parts, renders, blinks, dims; [`PanelConfig`].

The layouts, the LED table and the configuration are described in `docs/panel.md`.
*/

pub mod button;
pub mod error;
pub mod frame;
pub mod gpio;
pub mod hardware;
pub mod leds;
pub mod oled;
pub mod runner;
pub mod screens;
pub mod sim;
pub mod status;
pub mod texts;

pub use button::{ButtonConfig, ButtonEvent, PressRecogniser};
pub use error::PanelError;
pub use frame::Frame;
pub use hardware::{spawn_button_thread, ButtonInput, Display, Leds, LevelChange};
pub use leds::{leds, Led, LedState, Lit};
pub use runner::{open_panel, Panel, PanelConfig, PanelHandle, PanelParts};
pub use screens::{render, render_frame};
pub use status::{
    format_bytes, format_datetime, tz_abbrev, Attention, DiskLine, ErrorInfo, Failure,
    HardwarePart, LastBackup, Network, Notice, Page, Progress, RestoreTest, Screen, Status,
};
