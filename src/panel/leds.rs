/*!
The LED patterns (DESIGN.md §5), a pure function of the [`Status`]: green = healthy, blinking
while a backup runs (or disks are being ejected); amber = attention; red = failure; all three on
while the agent starts (a lamp test). The blink phase is applied by the caller
([`LedState::lit`]). The table is in `docs/panel.md`.
*/

use serde::Serialize;

use super::status::{Screen, Status};

/// One LED's pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Led {
    Off,
    On,
    /// On and off, half a blink period each.
    Blink,
}

impl Led {
    /// Whether the LED is lit in the given blink phase.
    pub fn lit(self, phase_on: bool) -> bool {
        match self {
            Led::Off => false,
            Led::On => true,
            Led::Blink => phase_on,
        }
    }
}

/// The pattern of the three LEDs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct LedState {
    pub green: Led,
    pub amber: Led,
    pub red: Led,
}

/// Which LEDs are lit at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Lit {
    pub green: bool,
    pub amber: bool,
    pub red: bool,
}

impl LedState {
    /// Every LED on: the lamp test while the agent starts.
    pub const ALL_ON: LedState = LedState {
        green: Led::On,
        amber: Led::On,
        red: Led::On,
    };

    /// Which LEDs are lit in the given blink phase.
    pub fn lit(&self, phase_on: bool) -> Lit {
        Lit {
            green: self.green.lit(phase_on),
            amber: self.amber.lit(phase_on),
            red: self.red.lit(phase_on),
        }
    }
}

/// The LED pattern for a status:
///
/// | LED | pattern | when |
/// |---|---|---|
/// | all three | on | the agent is starting (boot splash): a lamp test |
/// | green | blinking | a backup runs, or disks are being ejected |
/// | green | on | otherwise, when there is no failure |
/// | green | off | there is a failure |
/// | amber | on | any attention reason (manual copy overdue, disk nearly full, clock not synchronised, no encryption key, panel hardware missing) |
/// | red | on | any failure (last backup failed, no backup disk, database unreachable, no automatic backup for 2 intervals), or the error screen is shown |
pub fn leds(status: &Status) -> LedState {
    if status.screen == Screen::Boot {
        return LedState::ALL_ON;
    }
    let failing = !status.failures.is_empty() || matches!(status.screen, Screen::Error(_));
    let busy = status.busy || matches!(status.screen, Screen::Running(_) | Screen::Ejecting { .. });
    LedState {
        green: if busy {
            Led::Blink
        } else if failing {
            Led::Off
        } else {
            Led::On
        },
        amber: if status.attention.is_empty() {
            Led::Off
        } else {
            Led::On
        },
        red: if failing { Led::On } else { Led::Off },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Language;
    use crate::panel::status::{Attention, ErrorInfo, Failure, Progress};

    fn status(screen: Screen) -> Status {
        let now = chrono::NaiveDate::from_ymd_opt(2026, 11, 26)
            .and_then(|d| d.and_hms_opt(10, 0, 0))
            .expect("date");
        let mut s = Status::booting(Language::Id, now, "WIB");
        s.screen = screen;
        s
    }

    fn progress() -> Progress {
        Progress {
            source: "pmi".into(),
            manual: false,
            bytes: 1,
            rate_bytes_per_s: 1,
            fraction: None,
            targets: vec![],
        }
    }

    const fn st(green: Led, amber: Led, red: Led) -> LedState {
        LedState { green, amber, red }
    }

    #[test]
    fn the_documented_table() {
        use Led::*;
        assert_eq!(leds(&status(Screen::Boot)), st(On, On, On));
        assert_eq!(leds(&status(Screen::Idle)), st(On, Off, Off));
        assert_eq!(
            leds(&status(Screen::Running(progress()))),
            st(Blink, Off, Off)
        );
        assert_eq!(
            leds(&status(Screen::Ejecting { labels: vec![] })),
            st(Blink, Off, Off)
        );

        let mut s = status(Screen::Idle);
        s.attention.push(Attention::ManualOverdue);
        assert_eq!(leds(&s), st(On, On, Off), "attention alone stays healthy");
        s.failures.push(Failure::DatabaseUnreachable);
        assert_eq!(leds(&s), st(Off, On, On));
        s.screen = Screen::Running(progress());
        assert_eq!(leds(&s), st(Blink, On, On), "a run shows through a failure");

        let err = status(Screen::Error(ErrorInfo {
            what: "x".into(),
            todo: "y".into(),
        }));
        assert_eq!(leds(&err), st(Off, Off, On));
    }

    /// Found by the image's boot test (issue 14): a disk plugged in during a run shows its own
    /// screen, and the green LED stopped blinking although the backup went on.
    #[test]
    fn a_run_blinks_whatever_screen_is_over_it() {
        use Led::*;
        for screen in [
            Screen::UnknownDisk {
                label: "X".into(),
                why: None,
            },
            Screen::SafeToRemove { labels: vec![] },
            Screen::Idle,
        ] {
            let mut s = status(screen.clone());
            s.busy = true;
            assert_eq!(leds(&s), st(Blink, Off, Off), "{screen:?}");
        }
    }

    #[test]
    fn blink_phase() {
        let s = st(Led::Blink, Led::On, Led::Off);
        assert_eq!(
            s.lit(true),
            Lit {
                green: true,
                amber: true,
                red: false
            }
        );
        assert_eq!(
            s.lit(false),
            Lit {
                green: false,
                amber: true,
                red: false
            }
        );
    }
}
