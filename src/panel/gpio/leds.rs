/*!
The three LEDs on GPIO outputs (lit = high, through a resistor to GND). The lines are requested
once, all off, and held for the daemon's life: the kernel keeps an output's level only while its
request is open, and holding them keeps another program from taking them. LEDs on different chips
(a board whose lines are given by name) get one request per chip.
*/

use std::path::PathBuf;

use super::error::GpioError;
use super::resolve::{refused, resolve, Found};
use super::uapi::{GpioUapi, OutputLines};
use super::{GpioLines, LineRole};
use crate::panel::hardware::Leds;
use crate::panel::leds::{LedState, Lit};
use crate::panel::PanelError;

/// The lines of one chip, requested together.
struct Group {
    request: Box<dyn OutputLines>,
    lines: Vec<(LineRole, u32)>,
}

/// The LEDs, held.
pub struct GpioLeds {
    groups: Vec<Group>,
}

impl std::fmt::Debug for GpioLeds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let lines: Vec<_> = self.groups.iter().map(|g| &g.lines).collect();
        f.debug_struct("GpioLeds").field("lines", &lines).finish()
    }
}

/// The levels that show `lit` on `lines`.
pub fn levels(lit: Lit, lines: &[(LineRole, u32)]) -> Vec<(u32, bool)> {
    lines
        .iter()
        .map(|&(role, offset)| {
            let on = match role {
                LineRole::Green => lit.green,
                LineRole::Amber => lit.amber,
                LineRole::Red => lit.red,
                LineRole::Button => false,
            };
            (offset, on)
        })
        .collect()
}

impl GpioLeds {
    /// Finds the three LED lines and requests them as outputs, all off.
    pub fn open(uapi: &dyn GpioUapi, lines: &GpioLines) -> Result<GpioLeds, GpioError> {
        let found = resolve(uapi, lines, &LineRole::LEDS)?;
        let mut chips: Vec<&PathBuf> = Vec::new();
        for f in &found {
            if !chips.contains(&&f.chip) {
                chips.push(&f.chip);
            }
        }
        let mut groups = Vec::new();
        for chip in chips {
            let members: Vec<&Found> = found.iter().filter(|f| &f.chip == chip).collect();
            let offsets: Vec<u32> = members.iter().map(|f| f.at.offset).collect();
            let request = uapi
                .request_outputs(chip, &offsets)
                .map_err(|e| refused(uapi, &members, e))?;
            groups.push(Group {
                request,
                lines: members.iter().map(|f| (f.role, f.at.offset)).collect(),
            });
        }
        Ok(GpioLeds { groups })
    }
}

impl Leds for GpioLeds {
    fn set(&mut self, _pattern: &LedState, lit: Lit) -> Result<(), PanelError> {
        for g in &mut self.groups {
            g.request
                .set(&levels(lit, &g.lines))
                .map_err(|error| PanelError::Gpio {
                    part: "LEDs",
                    error: GpioError::Io {
                        doing: "setting the LED lines",
                        error,
                    },
                })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::error::GpioError;
    use super::super::fake::{bcm2711, chip, Asked, FakeGpio};
    use super::super::{ChipSpec, LineSpec};
    use super::*;
    use crate::panel::leds::Led;

    fn pattern() -> LedState {
        LedState {
            green: Led::Blink,
            amber: Led::Off,
            red: Led::On,
        }
    }

    fn level(fake: &FakeGpio, chip: &str, offset: u32) -> Option<bool> {
        fake.lock().levels.get(&(chip.into(), offset)).copied()
    }

    /// Requested once, all off; then every `set` drives exactly the lit LEDs high, on the BCM
    /// lines of DESIGN.md §5 (green 17, amber 27, red 22), without requesting again.
    #[test]
    fn requested_once_all_off_then_lit_is_high() {
        let fake = FakeGpio::with(vec![chip(0, "other", &["A"]), bcm2711(1)]);
        let mut leds = GpioLeds::open(&fake, &GpioLines::default()).expect("open");
        let c = "/dev/gpiochip1";
        assert_eq!(
            fake.lock().asked,
            vec![Asked::Outputs {
                chip: c.into(),
                offsets: vec![17, 27, 22]
            }]
        );
        for o in [17, 27, 22] {
            assert_eq!(level(&fake, c, o), Some(false), "line {o} starts off");
        }
        let steps = [
            (true, false, true),
            (false, false, true),
            (false, true, false),
            (true, true, true),
            (false, false, false),
        ];
        for (green, amber, red) in steps {
            leds.set(&pattern(), Lit { green, amber, red })
                .expect("set");
            assert_eq!(
                (
                    level(&fake, c, 17),
                    level(&fake, c, 27),
                    level(&fake, c, 22)
                ),
                (Some(green), Some(amber), Some(red))
            );
        }
        assert_eq!(fake.lock().asked.len(), 1, "the lines stay requested");
        assert!(
            level(&fake, c, 23).is_none(),
            "the button's line is no output"
        );
    }

    /// LEDs named on two chips: one request per chip, each set with its own lines.
    #[test]
    fn leds_on_two_chips() {
        let fake = FakeGpio::with(vec![bcm2711(0), chip(1, "expander", &["", "LED_R"])]);
        let lines = GpioLines {
            red: LineSpec::Name("LED_R".into()),
            ..GpioLines::default()
        };
        let mut leds = GpioLeds::open(&fake, &lines).expect("open");
        assert_eq!(
            fake.lock().asked,
            vec![
                Asked::Outputs {
                    chip: "/dev/gpiochip0".into(),
                    offsets: vec![17, 27]
                },
                Asked::Outputs {
                    chip: "/dev/gpiochip1".into(),
                    offsets: vec![1]
                },
            ]
        );
        let lit = Lit {
            green: false,
            amber: false,
            red: true,
        };
        leds.set(&pattern(), lit).expect("set");
        assert_eq!(level(&fake, "/dev/gpiochip1", 1), Some(true));
        assert_eq!(level(&fake, "/dev/gpiochip0", 17), Some(false));
        assert_eq!(level(&fake, "/dev/gpiochip0", 22), None);
    }

    /// A refused request is an error by the errno's kind: busy names the line and its user (read
    /// again from the chip); permission says what to allow.
    #[test]
    fn a_refused_request_says_why() {
        let mut fake = FakeGpio::with(vec![bcm2711(0)]);
        fake.request_fails = Some(libc::EBUSY);
        let e = GpioLeds::open(&fake, &GpioLines::default()).unwrap_err();
        assert!(
            matches!(&e, GpioError::LineBusy { role: LineRole::Green, consumer, .. } if consumer.is_empty()),
            "{e:?}"
        );

        fake.request_fails = Some(libc::EACCES);
        let e = GpioLeds::open(&fake, &GpioLines::default()).unwrap_err();
        match &e {
            GpioError::Request { role, line, error } => {
                assert_eq!(*role, LineRole::Green);
                assert_eq!(line.offset, 17);
                assert_eq!(error.os_kind(), Some(std::io::ErrorKind::PermissionDenied));
            }
            other => panic!("{other:?}"),
        }
        let text = e.to_string();
        assert!(
            text.contains("line 17 \"GPIO17\" of gpiochip0 [pinctrl-bcm2711]")
                && text.contains("DeviceAllow"),
            "{text}"
        );
    }

    #[test]
    fn a_failing_set_is_a_gpio_error() {
        let fake = FakeGpio::with(vec![bcm2711(0)]);
        let mut leds = GpioLeds::open(&fake, &GpioLines::default()).expect("open");
        fake.lock().set_fails = Some(libc::EIO);
        let e = leds.set(&pattern(), Lit::default()).unwrap_err();
        match e {
            PanelError::Gpio {
                part: "LEDs",
                error: GpioError::Io { error, .. },
            } => assert!(matches!(error, super::super::uapi::UapiError::Os(_))),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_given_chip_that_is_missing_requests_nothing() {
        let fake = FakeGpio::with(vec![bcm2711(0)]);
        let lines = GpioLines {
            chip: ChipSpec::Given("/dev/gpiochip9".into()),
            ..GpioLines::default()
        };
        assert!(matches!(
            GpioLeds::open(&fake, &lines),
            Err(GpioError::ChipNotFound { .. })
        ));
        assert!(fake.lock().asked.is_empty());
    }
}
