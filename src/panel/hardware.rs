/*!
The three small interfaces the agent sees of the front panel — [`Display`], [`Leds`],
[`ButtonInput`] — and the thread that turns a button's level changes into [`ButtonEvent`]s.
Each has a real implementation ([`super::oled`], [`super::gpio`]) and a simulated one
([`super::sim`]).
*/

use std::time::{Duration, Instant};

use super::button::{ButtonConfig, ButtonEvent, PressRecogniser};
use super::frame::Frame;
use super::leds::{LedState, Lit};
use super::PanelError;

/// The OLED.
pub trait Display: Send {
    /// Shows `frame`. An implementation may skip a frame equal to the one it shows. An error
    /// (a loose cable) is returned, never fatal: the caller retries later, and the next call
    /// re-initialises the display first.
    fn flush(&mut self, frame: &Frame) -> Result<(), PanelError>;
    /// Dims the display (burn-in care) or brings it back to normal brightness.
    fn set_dim(&mut self, dim: bool) -> Result<(), PanelError>;
}

/// The three LEDs. The caller computes the blink phase.
pub trait Leds: Send {
    /// Lights the LEDs as `lit` says; `pattern` is what they are meant to show (the simulated
    /// LEDs record it, real ones ignore it).
    fn set(&mut self, pattern: &LedState, lit: Lit) -> Result<(), PanelError>;
}

/// A raw level change of the button.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LevelChange {
    /// The contact is closed (for the real button: the pin reads low).
    pub pressed: bool,
    /// When it was seen.
    pub at: Instant,
}

/// The button's raw input.
pub trait ButtonInput: Send {
    /// Waits up to `timeout` for the next level change; `Ok(None)` when there was none.
    fn wait_change(&mut self, timeout: Duration) -> Result<Option<LevelChange>, PanelError>;
}

/// How often the button thread looks at the clock while waiting (long presses are recognised
/// within this time of the threshold).
pub const BUTTON_TICK: Duration = Duration::from_millis(20);

/// Runs the press recogniser over `input` on its own thread and calls `on_event` for every
/// press; the thread ends when `on_event` returns `false` (say, the agent's channel is closed).
/// An input error is logged once and retried every second.
pub fn spawn_button_thread<F>(
    mut input: Box<dyn ButtonInput>,
    config: ButtonConfig,
    mut on_event: F,
) -> std::io::Result<std::thread::JoinHandle<()>>
where
    F: FnMut(ButtonEvent) -> bool + Send + 'static,
{
    std::thread::Builder::new()
        .name("panel-button".into())
        .spawn(move || {
            let mut recogniser = PressRecogniser::new(config);
            let mut failing = false;
            loop {
                let event = match input.wait_change(BUTTON_TICK) {
                    Ok(Some(change)) => {
                        failing = false;
                        recogniser.on_level(change.pressed, change.at)
                    }
                    Ok(None) => recogniser.on_tick(Instant::now()),
                    Err(e) => {
                        if !failing {
                            log::warn!("front-panel button: {e}; retrying every second");
                            failing = true;
                        }
                        std::thread::sleep(Duration::from_secs(1));
                        None
                    }
                };
                // A change may settle an earlier level; a tick afterwards settles the rest.
                let events = [event, recogniser.on_tick(Instant::now())];
                for event in events.into_iter().flatten() {
                    if !on_event(event) {
                        return;
                    }
                }
            }
        })
}
