/*!
The button on a GPIO input: a momentary contact to GND with the line's pull-up, so pressed reads
low (`[panel] button_pressed = "high"`: a contact to 3.3 V with the pull-down, pressed reads high).
The line is requested once with that bias, the kernel's debounce ([`BUTTON_DEBOUNCE`]) and edge
events on both edges; the button thread waits for them in the kernel (poll with a timeout, no busy
loop). The edge to the pressed level is a press, the other a release, dated by the kernel's
timestamp so a late read does not stretch a press. The press recogniser ([`crate::panel::button`])
turns them into short and long presses.
*/

use std::time::{Duration, Instant};

use super::error::GpioError;
use super::resolve::{refused, resolve};
use super::uapi::{Edge, EdgeLines, GpioUapi};
use super::{GpioLines, LineRole, Pressed};
use crate::panel::hardware::{ButtonInput, LevelChange};
use crate::panel::PanelError;

/// The kernel's debounce on the button's line: an edge is reported once the level has been
/// steady this long (the press recogniser adds its own 30 ms on top).
pub const BUTTON_DEBOUNCE: Duration = Duration::from_millis(20);

/// The button, held.
pub struct GpioButton {
    line: Box<dyn EdgeLines>,
    pressed: Pressed,
}

impl std::fmt::Debug for GpioButton {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpioButton").finish_non_exhaustive()
    }
}

/// What an edge seen `edge.age` before `now` means: an edge to the `pressed` level is a press.
pub fn level_change(edge: Edge, pressed: Pressed, now: Instant) -> LevelChange {
    LevelChange {
        pressed: edge.rising == (pressed == Pressed::High),
        at: now.checked_sub(edge.age).unwrap_or(now),
    }
}

impl GpioButton {
    /// Finds the button's line and requests it as an input with the bias that holds it released,
    /// debounce and edge events.
    pub fn open(uapi: &dyn GpioUapi, lines: &GpioLines) -> Result<GpioButton, GpioError> {
        let found = resolve(uapi, lines, &[LineRole::Button])?;
        let members: Vec<_> = found.iter().collect();
        let Some(f) = members.first() else {
            return Err(GpioError::NoChips);
        };
        let line = uapi
            .request_edges(
                &f.chip,
                f.at.offset,
                lines.button_pressed.pull(),
                BUTTON_DEBOUNCE,
            )
            .map_err(|e| refused(uapi, &members, e))?;
        Ok(GpioButton {
            line,
            pressed: lines.button_pressed,
        })
    }
}

impl ButtonInput for GpioButton {
    fn wait_change(&mut self, timeout: Duration) -> Result<Option<LevelChange>, PanelError> {
        let edge = self
            .line
            .wait_edge(timeout)
            .map_err(|error| PanelError::Gpio {
                part: "button",
                error: GpioError::Io {
                    doing: "waiting for the button's edges",
                    error,
                },
            })?;
        Ok(edge.map(|e| level_change(e, self.pressed, Instant::now())))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::super::error::GpioError;
    use super::super::fake::{bcm2711, chip, Asked, FakeGpio};
    use super::super::uapi::UapiError;
    use super::super::{ChipSpec, LineSpec, Pull};
    use super::*;
    use crate::panel::button::{ButtonConfig, ButtonEvent};
    use crate::panel::hardware::spawn_button_thread;

    fn edge(rising: bool, age_ms: u64) -> Result<Option<Edge>, UapiError> {
        Ok(Some(Edge {
            rising,
            age: Duration::from_millis(age_ms),
        }))
    }

    /// The one request a button makes: edges of `offset` on the first chip, with `pull` and the
    /// kernel's debounce.
    fn edges_on_chip0(offset: u32, pull: Pull) -> Vec<Asked> {
        vec![Asked::Edges {
            chip: "/dev/gpiochip0".into(),
            offset,
            pull,
            debounce: BUTTON_DEBOUNCE,
        }]
    }

    /// BCM 23 on the header chip, with the kernel's debounce.
    #[test]
    fn the_button_line_is_requested_with_the_debounce() {
        let fake = FakeGpio::with(vec![bcm2711(0)]);
        GpioButton::open(&fake, &GpioLines::default()).expect("open");
        assert_eq!(fake.lock().asked, edges_on_chip0(23, Pull::Up));
        assert!((Duration::from_millis(20)..=Duration::from_millis(30)).contains(&BUTTON_DEBOUNCE));
    }

    /// Low is pressed: a falling edge is a press, a rising edge a release, each dated by the
    /// kernel's timestamp; no edge within the timeout is `None`, and the timeout is handed to
    /// the kernel's wait.
    #[test]
    fn falling_is_pressed_rising_is_released() {
        let fake = FakeGpio::with(vec![bcm2711(0)]);
        let mut b = GpioButton::open(&fake, &GpioLines::default()).expect("open");
        fake.lock().edges.extend([edge(false, 300), edge(true, 0)]);
        let before = Instant::now();
        let press = b
            .wait_change(Duration::from_millis(20))
            .expect("ok")
            .expect("edge");
        let release = b
            .wait_change(Duration::from_millis(20))
            .expect("ok")
            .expect("edge");
        let after = Instant::now();
        assert!(press.pressed && !release.pressed);
        assert!(press.at + Duration::from_millis(300) >= before);
        assert!(press.at + Duration::from_millis(300) <= after);
        assert!(release.at >= before && release.at <= after);
        assert_eq!(b.wait_change(Duration::from_millis(5)).expect("ok"), None);
        assert_eq!(
            fake.lock().waits,
            vec![
                Duration::from_millis(20),
                Duration::from_millis(20),
                Duration::from_millis(5)
            ]
        );
    }

    /// `button_pressed = "high"` on a chip without names (qemu `virt`'s PL061, the power button
    /// on line 3): the line is asked for with the pull-down, a rising edge is the press and a
    /// falling edge the release, and qemu's 100 ms pulse is one short press.
    #[test]
    fn pressed_high_rising_is_pressed_with_the_pull_down() {
        let pl061 = || {
            FakeGpio::with(vec![chip(
                0,
                "9030000.pl061",
                &["", "", "", "", "", "", "", ""],
            )])
        };
        let lines = GpioLines {
            chip: ChipSpec::Given("9030000.pl061".into()),
            green: LineSpec::Offset(0),
            amber: LineSpec::Offset(1),
            red: LineSpec::Offset(2),
            button: LineSpec::Offset(3),
            button_pressed: Pressed::High,
        };
        let fake = pl061();
        let mut b = GpioButton::open(&fake, &lines).expect("open");
        assert_eq!(fake.lock().asked, edges_on_chip0(3, Pull::Down));
        fake.lock().edges.extend([edge(true, 100), edge(false, 0)]);
        let press = b.wait_change(Duration::from_millis(20)).expect("ok");
        let release = b.wait_change(Duration::from_millis(20)).expect("ok");
        assert_eq!(press.map(|c| c.pressed), Some(true));
        assert_eq!(release.map(|c| c.pressed), Some(false));

        let fake = pl061();
        let b = GpioButton::open(&fake, &lines).expect("open");
        fake.lock().edges.extend([edge(true, 100), edge(false, 0)]);
        let (tx, rx) = mpsc::channel();
        let t = spawn_button_thread(Box::new(b), ButtonConfig::default(), move |ev| {
            let _ = tx.send(ev);
            false
        })
        .expect("thread");
        let ev = rx.recv_timeout(Duration::from_secs(5)).expect("an event");
        t.join().expect("join");
        assert_eq!(ev, ButtonEvent::ShortPress);
    }

    #[test]
    fn an_edge_older_than_the_clock_is_dated_now() {
        let now = Instant::now();
        let c = level_change(
            Edge {
                rising: false,
                age: Duration::from_secs(u64::MAX / 4),
            },
            Pressed::Low,
            now,
        );
        assert!(c.pressed);
        assert!(c.at <= now);
    }

    /// The whole path from the kernel's edges to the agent's event: a 200 ms press through the
    /// button thread and the recogniser is one short press; a held press is a long press while
    /// still held.
    #[test]
    fn edges_become_presses_through_the_button_thread() {
        let run = |edges: Vec<Result<Option<Edge>, UapiError>>| -> ButtonEvent {
            let fake = FakeGpio::with(vec![bcm2711(0)]);
            let b = GpioButton::open(&fake, &GpioLines::default()).expect("open");
            fake.lock().edges.extend(edges);
            let (tx, rx) = mpsc::channel();
            let config = ButtonConfig {
                long_press: Duration::from_millis(400),
                ..ButtonConfig::default()
            };
            let t = spawn_button_thread(Box::new(b), config, move |ev| {
                let _ = tx.send(ev);
                false
            })
            .expect("thread");
            let ev = rx.recv_timeout(Duration::from_secs(5)).expect("an event");
            t.join().expect("join");
            ev
        };
        assert_eq!(
            run(vec![edge(false, 200), edge(true, 0)]),
            ButtonEvent::ShortPress
        );
        assert_eq!(run(vec![edge(false, 0)]), ButtonEvent::LongPress);
    }

    #[test]
    fn a_failing_wait_is_a_gpio_error() {
        let fake = FakeGpio::with(vec![bcm2711(0)]);
        let mut b = GpioButton::open(&fake, &GpioLines::default()).expect("open");
        fake.lock()
            .edges
            .push_back(Err(UapiError::Os(std::io::Error::from_raw_os_error(
                libc::ENODEV,
            ))));
        match b.wait_change(Duration::from_millis(20)).unwrap_err() {
            PanelError::Gpio {
                part: "button",
                error: GpioError::Io { .. },
            } => {}
            other => panic!("{other:?}"),
        }
    }
}
