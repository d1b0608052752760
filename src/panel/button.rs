/*!
The button's press recogniser: a pure state machine fed with raw level changes and clock ticks,
with their instants. It debounces (a level counts once it has been steady for `debounce`,
default 30 ms), reports a short press on release before `long_press` (default 3 s), and a long
press once, *while the button is still held*, as soon as it has been held that long (the eject
starts without waiting for the release); the release after a long press reports nothing.

It knows nothing of GPIO or threads: [`super::hardware::spawn_button_thread`] feeds it.
*/

use std::time::{Duration, Instant};

use serde::Serialize;

/// What a press means to the agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ButtonEvent {
    /// Pressed and released before the long-press time: take a manual backup now.
    ShortPress,
    /// Held for the long-press time: eject the removable disks safely.
    LongPress,
}

/// Timing of the recogniser.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ButtonConfig {
    /// A level must be steady this long to count.
    pub debounce: Duration,
    /// Held this long: a long press.
    pub long_press: Duration,
}

impl Default for ButtonConfig {
    fn default() -> Self {
        ButtonConfig {
            debounce: Duration::from_millis(30),
            long_press: Duration::from_secs(3),
        }
    }
}

/// The recogniser. It starts with the button released.
#[derive(Clone, Debug)]
pub struct PressRecogniser {
    config: ButtonConfig,
    /// The last raw level seen, and since when.
    raw: bool,
    raw_since: Option<Instant>,
    /// The debounced level.
    stable: bool,
    /// When the debounced press began (its first edge).
    pressed_at: Option<Instant>,
    /// The long press of the current hold has been reported.
    long_sent: bool,
}

impl PressRecogniser {
    pub fn new(config: ButtonConfig) -> PressRecogniser {
        PressRecogniser {
            config,
            raw: false,
            raw_since: None,
            stable: false,
            pressed_at: None,
            long_sent: false,
        }
    }

    /// A raw level change (`pressed`: the contact is closed) at `at`.
    pub fn on_level(&mut self, pressed: bool, at: Instant) -> Option<ButtonEvent> {
        let event = self.settle(at);
        if pressed != self.raw {
            self.raw = pressed;
            self.raw_since = Some(at);
        }
        event
    }

    /// Time passes: call every few tens of milliseconds so that a long press is seen while held
    /// and a release is seen once it is steady.
    pub fn on_tick(&mut self, at: Instant) -> Option<ButtonEvent> {
        self.settle(at)
    }

    /// Whether the debounced button is down.
    pub fn is_pressed(&self) -> bool {
        self.stable
    }

    fn settle(&mut self, at: Instant) -> Option<ButtonEvent> {
        if self.raw != self.stable {
            if let Some(since) = self.raw_since {
                if at.saturating_duration_since(since) >= self.config.debounce {
                    if let Some(event) = self.commit(since) {
                        return Some(event);
                    }
                }
            }
        }
        if self.stable && !self.long_sent {
            // A release not yet steady ends the hold at its edge (unless it bounces back).
            let held_until = match (self.raw, self.raw_since) {
                (false, Some(since)) => since,
                _ => at,
            };
            if let Some(start) = self.pressed_at {
                if held_until.saturating_duration_since(start) >= self.config.long_press {
                    self.long_sent = true;
                    return Some(ButtonEvent::LongPress);
                }
            }
        }
        None
    }

    /// The raw level has been steady since `since`: it becomes the debounced level.
    fn commit(&mut self, since: Instant) -> Option<ButtonEvent> {
        self.stable = self.raw;
        if self.stable {
            self.pressed_at = Some(since);
            self.long_sent = false;
            return None;
        }
        let start = self.pressed_at.take()?;
        if self.long_sent {
            return None;
        }
        // Held long enough but no tick came while it was held: still a long press.
        if since.saturating_duration_since(start) >= self.config.long_press {
            Some(ButtonEvent::LongPress)
        } else {
            Some(ButtonEvent::ShortPress)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `(ms, Some(level))` edges and `(ms, None)` ticks; returns `(ms, event)`.
    fn run(steps: &[(u64, Option<bool>)]) -> Vec<(u64, ButtonEvent)> {
        let t0 = Instant::now();
        let mut r = PressRecogniser::new(ButtonConfig::default());
        let mut out = Vec::new();
        for &(ms, level) in steps {
            let at = t0 + Duration::from_millis(ms);
            let ev = match level {
                Some(p) => r.on_level(p, at),
                None => r.on_tick(at),
            };
            if let Some(ev) = ev {
                out.push((ms, ev));
            }
        }
        out
    }

    /// Ticks every 10 ms from `from` to `to` inclusive.
    fn ticks(from: u64, to: u64) -> Vec<(u64, Option<bool>)> {
        (from..=to).step_by(10).map(|ms| (ms, None)).collect()
    }

    fn seq(parts: &[&[(u64, Option<bool>)]]) -> Vec<(u64, Option<bool>)> {
        parts.iter().flat_map(|p| p.iter().copied()).collect()
    }

    #[test]
    fn short_press() {
        let s = seq(&[
            &[(0, Some(true))],
            &ticks(10, 200),
            &[(200, Some(false))],
            &ticks(210, 400),
        ]);
        assert_eq!(run(&s), vec![(230, ButtonEvent::ShortPress)]);
    }

    #[test]
    fn bouncing_contacts_give_one_press() {
        let s = seq(&[
            &[
                (0, Some(true)),
                (2, Some(false)),
                (4, Some(true)),
                (7, Some(false)),
                (9, Some(true)),
            ],
            &ticks(10, 300),
            &[
                (300, Some(false)),
                (301, Some(true)),
                (303, Some(false)),
                (306, Some(true)),
                (308, Some(false)),
            ],
            &ticks(310, 600),
        ]);
        assert_eq!(run(&s), vec![(340, ButtonEvent::ShortPress)]);
    }

    #[test]
    fn a_very_short_glitch_is_ignored() {
        let s = seq(&[&[(0, Some(true)), (5, Some(false))], &ticks(10, 500)]);
        assert_eq!(run(&s), vec![]);
        // Even a glitch shorter than the debounce with no tick in between.
        let s = [(0, Some(true)), (20, Some(false)), (1000, None)];
        assert_eq!(run(&s), vec![]);
    }

    #[test]
    fn long_press_is_reported_while_held_and_not_again_on_release() {
        let s = seq(&[
            &[(0, Some(true))],
            &ticks(10, 5000),
            &[(5000, Some(false))],
            &ticks(5010, 5500),
        ]);
        assert_eq!(run(&s), vec![(3000, ButtonEvent::LongPress)]);
    }

    #[test]
    fn long_press_without_ticks_is_reported_at_release() {
        let s = [(0, Some(true)), (3500, Some(false)), (3600, None)];
        assert_eq!(run(&s), vec![(3500, ButtonEvent::LongPress)]);
    }

    #[test]
    fn just_under_the_threshold_is_short() {
        let s = seq(&[
            &[(0, Some(true))],
            &ticks(10, 2990),
            &[(2990, Some(false))],
            &ticks(3000, 3100),
        ]);
        assert_eq!(run(&s), vec![(3020, ButtonEvent::ShortPress)]);
    }

    /// The agent changes state (a backup starts, the screen changes) while the button is held:
    /// the recogniser has no part in that, the hold still gives exactly one long press, a bounce
    /// on release adds nothing, and the next press is recognised normally.
    #[test]
    fn held_across_a_state_change_then_pressed_again() {
        let s = seq(&[
            &[(0, Some(true))],
            &ticks(10, 1500),
            // a bounce while held, shorter than the debounce
            &[(1500, Some(false)), (1510, Some(true))],
            &ticks(1520, 4000),
            &[(4000, Some(false)), (4005, Some(true)), (4010, Some(false))],
            &ticks(4020, 4500),
            &[(4500, Some(true))],
            &ticks(4510, 4700),
            &[(4700, Some(false))],
            &ticks(4710, 4800),
        ]);
        assert_eq!(
            run(&s),
            vec![
                (3000, ButtonEvent::LongPress),
                (4730, ButtonEvent::ShortPress)
            ]
        );
    }

    #[test]
    fn configurable_times() {
        let t0 = Instant::now();
        let mut r = PressRecogniser::new(ButtonConfig {
            debounce: Duration::from_millis(5),
            long_press: Duration::from_millis(500),
        });
        assert_eq!(r.on_level(true, t0), None);
        assert_eq!(r.on_tick(t0 + Duration::from_millis(6)), None);
        assert!(r.is_pressed());
        assert_eq!(
            r.on_tick(t0 + Duration::from_millis(500)),
            Some(ButtonEvent::LongPress)
        );
    }
}
