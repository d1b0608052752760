/*!
Finding the panel's lines: the chip (`gpio_chip`: `auto`, or a path, name, number or label), then
each line by offset or by name on it, then the checks that make a wrong setting an error that names
the line instead of a dark LED — the line exists, it is not the OLED's I2C, no two parts share it,
and nobody else holds it.

With `auto`, a line given by name is looked for on every chip (the first that has it, in the
kernel's order), and a line given by number is that offset — the BCM number — on the chip that
has a line named `GPIO17`: the Raspberry Pi's header chip (`pinctrl-bcm2711` on a Pi 4,
`pinctrl-rp1` on a Pi 5 with Raspberry Pi OS), whatever its `gpiochipN` number.
*/

use std::io;
use std::path::{Path, PathBuf};

use super::error::{GpioError, LineAt};
use super::uapi::{ChipInfo, GpioUapi, UapiError};
use super::{ChipSpec, GpioLines, LineRole, LineSpec, HEADER_I2C, HEADER_MARK};

/// A line found for a part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub role: LineRole,
    /// The chip's character device.
    pub chip: PathBuf,
    /// The line, for messages.
    pub at: LineAt,
    /// Its user, when a driver or another program holds it.
    pub held_by: Option<String>,
}

/// `gpiochip0 [pinctrl-bcm2711]`.
pub fn chip_name(chip: &ChipInfo) -> String {
    format!("{} [{}]", chip.name, chip.label)
}

/// The chips that could be read, and those that could not.
struct Inventory {
    chips: Vec<ChipInfo>,
    unreadable: Vec<(PathBuf, UapiError)>,
}

impl Inventory {
    fn scan(uapi: &dyn GpioUapi) -> Result<Inventory, GpioError> {
        let paths = uapi.chips().map_err(GpioError::ListChips)?;
        if paths.is_empty() {
            return Err(GpioError::NoChips);
        }
        let mut inv = Inventory {
            chips: Vec::new(),
            unreadable: Vec::new(),
        };
        for path in paths {
            match uapi.chip_info(&path) {
                Ok(info) => inv.chips.push(info),
                Err(e) => inv.unreadable.push((path, e)),
            }
        }
        Ok(inv)
    }

    fn names(&self) -> Vec<String> {
        self.chips.iter().map(chip_name).collect()
    }

    /// When something was not found: a chip that could not be read may have had it, so that
    /// chip's error is the one to report.
    fn unreadable_error(&self) -> Option<GpioError> {
        self.unreadable
            .first()
            .map(|(chip, error)| GpioError::ChipUnreadable {
                chip: chip.clone(),
                error: error.clone(),
            })
    }
}

/// The chips a line is looked for on.
enum Scope {
    /// `gpio_chip` names one.
    One(ChipInfo),
    /// `auto`: all of them.
    All(Inventory),
}

/// Finds the chip `wanted`: a path, a kernel name (`gpiochip0`), a number (`0`) or a label.
fn find_chip(uapi: &dyn GpioUapi, wanted: &str) -> Result<ChipInfo, GpioError> {
    if wanted.starts_with('/') {
        let path = Path::new(wanted);
        return match uapi.chip_info(path) {
            Ok(info) => Ok(info),
            Err(UapiError::NotAChip) => Err(GpioError::NotAChip {
                path: path.to_path_buf(),
            }),
            Err(e) if e.os_kind() == Some(io::ErrorKind::NotFound) => {
                Err(GpioError::ChipNotFound {
                    wanted: wanted.to_string(),
                    present: Inventory::scan(uapi)
                        .map(|inv| inv.names())
                        .unwrap_or_default(),
                })
            }
            Err(error) => Err(GpioError::ChipUnreadable {
                chip: path.to_path_buf(),
                error,
            }),
        };
    }
    let inv = Inventory::scan(uapi)?;
    let name = if !wanted.is_empty() && wanted.chars().all(|c| c.is_ascii_digit()) {
        format!("gpiochip{wanted}")
    } else {
        wanted.to_string()
    };
    if let Some(chip) = inv.chips.iter().find(|c| c.name == name) {
        return Ok(chip.clone());
    }
    let by_label: Vec<&ChipInfo> = inv.chips.iter().filter(|c| c.label == wanted).collect();
    match by_label.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(inv
            .unreadable_error()
            .unwrap_or_else(|| GpioError::ChipNotFound {
                wanted: wanted.to_string(),
                present: inv.names(),
            })),
        many => Err(GpioError::ChipAmbiguous {
            wanted: wanted.to_string(),
            matching: many.iter().map(|c| chip_name(c)).collect(),
        }),
    }
}

/// The line of `role` in `scope`.
fn locate(scope: &Scope, role: LineRole, spec: &LineSpec) -> Result<Found, GpioError> {
    let (chip, offset) = match (scope, spec) {
        (Scope::One(chip), LineSpec::Name(name)) => match chip.offset_of(name) {
            Some(o) => (chip, o),
            None => {
                return Err(GpioError::LineNameNotFound {
                    role,
                    name: name.clone(),
                    chip: Some(chip_name(chip)),
                })
            }
        },
        (Scope::All(inv), LineSpec::Name(name)) => {
            match inv
                .chips
                .iter()
                .find_map(|c| c.offset_of(name).map(|o| (c, o)))
            {
                Some(found) => found,
                None => {
                    return Err(inv.unreadable_error().unwrap_or_else(|| {
                        GpioError::LineNameNotFound {
                            role,
                            name: name.clone(),
                            chip: None,
                        }
                    }))
                }
            }
        }
        (Scope::One(chip), LineSpec::Offset(o)) => (chip, *o),
        (Scope::All(inv), LineSpec::Offset(o)) => {
            match inv
                .chips
                .iter()
                .find(|c| c.offset_of(HEADER_MARK).is_some())
            {
                Some(chip) => (chip, *o),
                None => {
                    return Err(inv
                        .unreadable_error()
                        .unwrap_or_else(|| GpioError::NoHeaderChip {
                            role,
                            present: inv.names(),
                        }))
                }
            }
        }
    };
    let Some(line) = chip.line(offset) else {
        return Err(GpioError::OffsetOutOfRange {
            role,
            chip: chip_name(chip),
            offset,
            lines: chip.lines.len(),
        });
    };
    let at = LineAt {
        chip: chip_name(chip),
        offset,
        name: line.name.clone(),
    };
    if chip.offset_of(HEADER_MARK).is_some() && HEADER_I2C.contains(&offset) {
        return Err(GpioError::I2cLine { role, line: at });
    }
    Ok(Found {
        role,
        chip: chip.path.clone(),
        at,
        held_by: line.used.then(|| line.consumer.clone()),
    })
}

/// Finds the lines of `roles`. The other parts' lines are looked up too (their errors ignored:
/// they are reported when those parts are opened), so that a line set for two parts is an error
/// naming both.
pub fn resolve(
    uapi: &dyn GpioUapi,
    lines: &GpioLines,
    roles: &[LineRole],
) -> Result<Vec<Found>, GpioError> {
    let scope = match &lines.chip {
        ChipSpec::Auto => Scope::All(Inventory::scan(uapi)?),
        ChipSpec::Given(wanted) => Scope::One(find_chip(uapi, wanted)?),
    };
    let mut found = Vec::new();
    for &role in roles {
        found.push(locate(&scope, role, lines.of(role))?);
    }
    let others: Vec<Found> = LineRole::ALL
        .iter()
        .filter(|r| !roles.contains(r))
        .filter_map(|&r| locate(&scope, r, lines.of(r)).ok())
        .collect();
    for (i, a) in found.iter().enumerate() {
        for b in found[i + 1..].iter().chain(&others) {
            if a.chip == b.chip && a.at.offset == b.at.offset {
                // Name them in the order of the configuration file.
                let pos = |r: LineRole| LineRole::ALL.iter().position(|x| *x == r);
                let (first, second) = if pos(a.role) <= pos(b.role) {
                    (a.role, b.role)
                } else {
                    (b.role, a.role)
                };
                return Err(GpioError::SameLine {
                    first,
                    second,
                    line: a.at.clone(),
                });
            }
        }
    }
    if let Some(f) = found.iter().find(|f| f.held_by.is_some()) {
        return Err(GpioError::LineBusy {
            role: f.role,
            line: f.at.clone(),
            consumer: f.held_by.clone().unwrap_or_default(),
        });
    }
    Ok(found)
}

/// The error for a refused request of `group` (all on one chip): a busy line is named with its
/// user, read again from the chip.
pub fn refused(uapi: &dyn GpioUapi, group: &[&Found], error: UapiError) -> GpioError {
    let Some(&first) = group.first() else {
        return GpioError::Io {
            doing: "requesting no lines",
            error,
        };
    };
    if error.os_kind() == Some(io::ErrorKind::ResourceBusy) {
        let holder = uapi.chip_info(&first.chip).ok().and_then(|chip| {
            group.iter().find_map(|f| {
                chip.line(f.at.offset)
                    .filter(|l| l.used)
                    .map(|l| (*f, l.consumer.clone()))
            })
        });
        let (f, consumer) = holder.unwrap_or((first, String::new()));
        return GpioError::LineBusy {
            role: f.role,
            line: f.at.clone(),
            consumer,
        };
    }
    GpioError::Request {
        role: first.role,
        line: first.at.clone(),
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::super::fake::{bcm2711, chip, FakeGpio};
    use super::*;

    fn all(fake: &FakeGpio, lines: &GpioLines) -> Result<Vec<Found>, GpioError> {
        resolve(fake, lines, &LineRole::ALL)
    }

    fn at(found: &[Found]) -> Vec<(LineRole, String, u32)> {
        found
            .iter()
            .map(|f| (f.role, f.chip.display().to_string(), f.at.offset))
            .collect()
    }

    fn given(c: &str) -> GpioLines {
        GpioLines {
            chip: ChipSpec::Given(c.into()),
            ..GpioLines::default()
        }
    }

    /// A Pi 4 under Raspberry Pi OS: the header chip is not the first; `auto` finds it by its
    /// `GPIO17` line and the numbers are offsets on it.
    #[test]
    fn auto_finds_the_header_chip_by_its_gpio17_line() {
        let fake = FakeGpio::with(vec![
            chip(0, "brcmvirt-gpio", &["", "", ""]),
            chip(
                1,
                "raspberrypi-exp-gpio",
                &["BT_ON", "WL_ON", "PWR_LED_OFF"],
            ),
            bcm2711(2),
        ]);
        let found = all(&fake, &GpioLines::default()).expect("found");
        let c = "/dev/gpiochip2".to_string();
        assert_eq!(
            at(&found),
            vec![
                (LineRole::Green, c.clone(), 17),
                (LineRole::Amber, c.clone(), 27),
                (LineRole::Red, c.clone(), 22),
                (LineRole::Button, c, 23),
            ]
        );
        assert_eq!(found[0].at.name, "GPIO17");
        assert_eq!(
            found[0].at.to_string(),
            "line 17 \"GPIO17\" of gpiochip2 [pinctrl-bcm2711]"
        );

        // A Pi 5 under Raspberry Pi OS: `pinctrl-rp1`, same names, another number.
        let mut rp1 = bcm2711(4);
        rp1.label = "pinctrl-rp1".into();
        rp1.lines.truncate(54);
        let fake = FakeGpio::with(vec![chip(0, "gpio-brcmstb@107d508500", &["", ""]), rp1]);
        let found = all(&fake, &GpioLines::default()).expect("found");
        assert!(found.iter().all(|f| f.chip == Path::new("/dev/gpiochip4")));
    }

    /// Names override numbers; with `auto` a name is found on whichever chip has it.
    #[test]
    fn names_are_found_on_any_chip_with_auto() {
        let fake = FakeGpio::with(vec![
            bcm2711(0),
            chip(1, "gpio-expander", &["", "PANEL_BTN", "LED_OK"]),
        ]);
        let lines = GpioLines {
            green: LineSpec::Name("LED_OK".into()),
            button: LineSpec::Name("PANEL_BTN".into()),
            ..GpioLines::default()
        };
        let found = all(&fake, &lines).expect("found");
        assert_eq!(
            at(&found),
            vec![
                (LineRole::Green, "/dev/gpiochip1".into(), 2),
                (LineRole::Amber, "/dev/gpiochip0".into(), 27),
                (LineRole::Red, "/dev/gpiochip0".into(), 22),
                (LineRole::Button, "/dev/gpiochip1".into(), 1),
            ]
        );
        // "GPIO23" by name is the header's line 23.
        let lines = GpioLines {
            button: LineSpec::Name("GPIO5".into()),
            ..GpioLines::default()
        };
        let found = resolve(&fake, &lines, &[LineRole::Button]).expect("found");
        assert_eq!(found[0].at.offset, 5);

        let lines = GpioLines {
            button: LineSpec::Name("GPIO99".into()),
            ..GpioLines::default()
        };
        let e = resolve(&fake, &lines, &[LineRole::Button]).unwrap_err();
        assert!(
            matches!(&e, GpioError::LineNameNotFound { role: LineRole::Button, name, chip: None } if name == "GPIO99"),
            "{e:?}"
        );
        let text = e.to_string();
        assert!(
            text.contains("button_line") && text.contains("gpioinfo"),
            "{text}"
        );
    }

    /// `gpio_chip` by path, kernel name, number or label: all the same chip, and the numbers
    /// are its offsets (a chip that is no Raspberry Pi header may use 2 and 3).
    #[test]
    fn a_given_chip_by_path_name_number_or_label() {
        let fake = FakeGpio::with(vec![
            bcm2711(0),
            chip(1, "9030000.pl061", &["", "", "", "", "", "", "", ""]),
        ]);
        let pl061 = GpioLines {
            green: LineSpec::Offset(0),
            amber: LineSpec::Offset(1),
            red: LineSpec::Offset(2),
            button: LineSpec::Offset(3),
            ..given("")
        };
        for name in ["/dev/gpiochip1", "gpiochip1", "1", "9030000.pl061"] {
            let lines = GpioLines {
                chip: ChipSpec::Given(name.into()),
                ..pl061.clone()
            };
            let found = all(&fake, &lines).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(
                found.iter().all(|f| f.chip == Path::new("/dev/gpiochip1")),
                "{name}: {found:?}"
            );
            assert_eq!(found[3].at.offset, 3);
        }
        // The same numbers on the Pi header: 2 and 3 are the OLED's I2C.
        let e = all(
            &fake,
            &GpioLines {
                chip: ChipSpec::Given("pinctrl-bcm2711".into()),
                ..pl061
            },
        )
        .unwrap_err();
        assert!(
            matches!(&e, GpioError::I2cLine { role: LineRole::Red, line } if line.offset == 2),
            "{e:?}"
        );
    }

    #[test]
    fn a_given_chip_that_is_not_there() {
        let mut fake = FakeGpio::with(vec![
            bcm2711(0),
            chip(1, "pinctrl-x", &["A"]),
            chip(2, "pinctrl-x", &["B"]),
        ]);
        fake.not_chips.push("/dev/null".into());

        let e = all(&fake, &given("pinctrl-rp1")).unwrap_err();
        match &e {
            GpioError::ChipNotFound { wanted, present } => {
                assert_eq!(wanted, "pinctrl-rp1");
                assert_eq!(present[0], "gpiochip0 [pinctrl-bcm2711]");
                assert_eq!(present.len(), 3);
            }
            other => panic!("{other:?}"),
        }
        assert!(e.to_string().contains("gpioinfo"), "{e}");

        let e = all(&fake, &given("/dev/gpiochip7")).unwrap_err();
        assert!(
            matches!(&e, GpioError::ChipNotFound { present, .. } if present.len() == 3),
            "{e:?}"
        );
        let e = all(&fake, &given("/dev/null")).unwrap_err();
        assert!(matches!(e, GpioError::NotAChip { .. }), "{e:?}");

        let e = all(&fake, &given("pinctrl-x")).unwrap_err();
        assert!(
            matches!(&e, GpioError::ChipAmbiguous { matching, .. } if matching.len() == 2),
            "{e:?}"
        );
    }

    #[test]
    fn no_chip_at_all_and_no_raspberry_pi_header() {
        let e = all(&FakeGpio::default(), &GpioLines::default()).unwrap_err();
        assert!(matches!(e, GpioError::NoChips), "{e:?}");
        assert!(e.to_string().contains("gpioinfo"), "{e}");

        let fake = FakeGpio {
            list_fails: true,
            ..FakeGpio::default()
        };
        let e = all(&fake, &GpioLines::default()).unwrap_err();
        assert!(matches!(e, GpioError::ListChips(_)), "{e:?}");

        // A board without the Raspberry Pi's names: numbers need a chip.
        let fake = FakeGpio::with(vec![chip(0, "9030000.pl061", &["", "", "", ""])]);
        let e = resolve(&fake, &GpioLines::default(), &[LineRole::Button]).unwrap_err();
        match &e {
            GpioError::NoHeaderChip { role, present } => {
                assert_eq!(*role, LineRole::Button);
                assert_eq!(present, &["gpiochip0 [9030000.pl061]".to_string()]);
            }
            other => panic!("{other:?}"),
        }
        let text = e.to_string();
        assert!(
            text.contains("gpio_chip") && text.contains("button_line") && text.contains("GPIO17"),
            "{text}"
        );
    }

    /// A chip that cannot be read may be the one: its error is reported, by kind, rather than
    /// "not found"; when the lines are found elsewhere it does not matter.
    #[test]
    fn an_unreadable_chip_is_reported_when_it_may_hold_the_line() {
        let denied = || UapiError::Os(std::io::Error::from_raw_os_error(libc::EACCES));
        let mut fake = FakeGpio::with(vec![chip(1, "other", &["X"])]);
        fake.unreadable.push(("/dev/gpiochip0".into(), denied()));
        let e = all(&fake, &GpioLines::default()).unwrap_err();
        match &e {
            GpioError::ChipUnreadable { chip, error } => {
                assert_eq!(chip, Path::new("/dev/gpiochip0"));
                assert_eq!(error.os_kind(), Some(std::io::ErrorKind::PermissionDenied));
            }
            other => panic!("{other:?}"),
        }
        assert!(e.to_string().contains("DeviceAllow=char-gpiochip"), "{e}");

        let mut fake = FakeGpio::with(vec![bcm2711(1)]);
        fake.unreadable.push(("/dev/gpiochip0".into(), denied()));
        assert!(all(&fake, &GpioLines::default()).is_ok());
    }

    #[test]
    fn offsets_beyond_the_chip() {
        let fake = FakeGpio::with(vec![chip(0, "small", &["", "", "", ""])]);
        let lines = GpioLines {
            button: LineSpec::Offset(4),
            ..given("gpiochip0")
        };
        let e = resolve(&fake, &lines, &[LineRole::Button]).unwrap_err();
        assert!(
            matches!(
                e,
                GpioError::OffsetOutOfRange {
                    role: LineRole::Button,
                    offset: 4,
                    lines: 4,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(e.to_string().contains("0 to 3"), "{e}");
    }

    /// One line for two parts is an error naming both, whichever part is opened; a line held
    /// by someone else names its user; another part's trouble does not block this one.
    #[test]
    fn shared_and_busy_lines() {
        let mut fake = FakeGpio::with(vec![bcm2711(0)]);
        let lines = GpioLines {
            button: LineSpec::Name("GPIO17".into()),
            ..GpioLines::default()
        };
        for roles in [&LineRole::LEDS[..], &[LineRole::Button][..]] {
            let e = resolve(&fake, &lines, roles).unwrap_err();
            assert!(
                matches!(
                    &e,
                    GpioError::SameLine {
                        first: LineRole::Green,
                        second: LineRole::Button,
                        line
                    } if line.offset == 17
                ),
                "{e:?}"
            );
        }

        fake.hold(0, 23, "gpio-keys");
        let e = resolve(&fake, &GpioLines::default(), &[LineRole::Button]).unwrap_err();
        match &e {
            GpioError::LineBusy {
                role,
                line,
                consumer,
            } => {
                assert_eq!(*role, LineRole::Button);
                assert_eq!(line.offset, 23);
                assert_eq!(consumer, "gpio-keys");
            }
            other => panic!("{other:?}"),
        }
        assert!(e.to_string().contains("\"gpio-keys\""), "{e}");
        // The LEDs are not held up by the button's line.
        assert!(resolve(&fake, &GpioLines::default(), &LineRole::LEDS).is_ok());
    }
}
