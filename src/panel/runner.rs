/*!
The panel runner: owns the display and the LEDs, is told the [`Status`] whenever it changes
([`Panel::update`]) and is ticked every 100–250 ms ([`Panel::tick`]) by whoever drives it — the
agent's event loop, or the panel's own thread ([`Panel::spawn`]).

On each update or tick it picks the page (the idle screen alternates main ↔ network, a long
error screen what failed ↔ what to do, every `page_period`), renders, shifts the picture while dimmed, flushes the frame only if it changed,
and sets the LEDs only if they changed (blinking with `blink_period`). Burn-in care: after
`idle_dim_after` without a wake (a button press or a change of screen kind) the display dims and
the picture moves around a 3×3-pixel square, one step every `shift_period`.

A part that fails at run time (a loose I2C cable) is retried with a growing pause (1 s … 30 s):
the warning is logged once per outage, and [`Panel::problems`] reports it meanwhile.
*/

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::config::PanelKind;

use super::button::ButtonConfig;
use super::frame::Frame;
use super::gpio::{Cdev, GpioButton, GpioLeds, GpioLines};
use super::hardware::{ButtonInput, Display, Leds};
use super::leds::{leds, LedState, Lit};
use super::oled::Oled;
use super::screens::render_frame;
use super::sim::{SimButton, SimButtonHandle, SimDisplay, SimLeds};
use super::status::{Attention, HardwarePart, Page, Status};

/// How the panel is built. `Default` gives the wiring of DESIGN.md §5.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PanelConfig {
    /// Real hardware, the simulated panel, or none.
    pub kind: PanelKind,
    /// Where the simulated panel writes `panel/oled.png`, `panel/leds.json`, …
    pub state_dir: PathBuf,
    /// The I2C bus of the OLED.
    pub i2c_device: PathBuf,
    /// The OLED's I2C address (0x3C; some modules answer at 0x3D).
    pub i2c_address: u8,
    /// The OLED is mounted upside down.
    pub rotate_180: bool,
    /// The GPIO chip and lines of the LEDs and the button (to GND, with the pull-up).
    pub gpio: GpioLines,
    /// Debounce and long-press times of the button.
    pub button: ButtonConfig,
    /// Without a wake for this long, the display dims and the picture starts moving.
    pub idle_dim_after: Duration,
    /// The idle screen shows each page this long.
    pub page_period: Duration,
    /// A blinking LED is on for half of this, off for the other half.
    pub blink_period: Duration,
    /// While dimmed, the picture moves one step this often.
    pub shift_period: Duration,
    /// Pixel size of the simulated display's PNG files.
    pub sim_scale: u32,
    /// How many changed frames the simulated display keeps in `panel/history`.
    pub sim_history: u64,
}

impl Default for PanelConfig {
    fn default() -> Self {
        PanelConfig {
            kind: PanelKind::Hardware,
            state_dir: PathBuf::from("/var/lib/simdondar-backup"),
            i2c_device: PathBuf::from("/dev/i2c-1"),
            i2c_address: 0x3C,
            rotate_180: false,
            gpio: GpioLines::default(),
            button: ButtonConfig::default(),
            idle_dim_after: Duration::from_secs(600),
            page_period: Duration::from_secs(5),
            blink_period: Duration::from_secs(1),
            shift_period: Duration::from_secs(60),
            sim_scale: 4,
            sim_history: 500,
        }
    }
}

/// The offsets the picture cycles through while dimmed.
const SHIFTS: [(i32, i32); 9] = [
    (0, 0),
    (1, 0),
    (1, 1),
    (0, 1),
    (-1, 1),
    (-1, 0),
    (-1, -1),
    (0, -1),
    (1, -1),
];

/// The longest pause between retries of a failing part.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// A part that may fail and is retried.
struct Part<T: ?Sized> {
    device: Box<T>,
    which: HardwarePart,
    /// The error of the current outage, and when to try again.
    failing: Option<(String, Instant)>,
    backoff: Duration,
}

impl<T: ?Sized> Part<T> {
    fn new(device: Box<T>, which: HardwarePart) -> Self {
        Part {
            device,
            which,
            failing: None,
            backoff: Duration::from_secs(1),
        }
    }

    fn may_try(&self, now: Instant) -> bool {
        self.failing.as_ref().is_none_or(|(_, at)| now >= *at)
    }

    fn result(&mut self, r: Result<(), super::PanelError>, now: Instant) -> bool {
        match r {
            Ok(()) => {
                if self.failing.take().is_some() {
                    log::info!("front panel: the {} works again", self.which.as_str());
                }
                self.backoff = Duration::from_secs(1);
                true
            }
            Err(e) => {
                if self.failing.is_none() {
                    log::warn!(
                        "front panel: {e}; retrying (the agent runs on without the {})",
                        self.which.as_str()
                    );
                } else {
                    log::debug!("front panel: still failing: {e}");
                }
                self.failing = Some((e.to_string(), now + self.backoff));
                self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                false
            }
        }
    }
}

/// The front panel: display and LEDs driven from the status.
pub struct Panel {
    config: PanelConfig,
    display: Option<Part<dyn Display>>,
    leds: Option<Part<dyn Leds>>,
    /// Parts that could not be started, with the reason.
    missing: Vec<(HardwarePart, String)>,
    status: Option<Status>,
    /// The frame the display shows (after shifting), `None` when unknown.
    shown: Option<Frame>,
    /// The brightness the display was last set to.
    dim_shown: Option<bool>,
    led_shown: Option<(LedState, Lit)>,
    /// Start of the idle page cycle (the main page comes first).
    page_epoch: Instant,
    /// The last wake: a press, a change of screen kind, or the start.
    last_wake: Instant,
    /// Start of the blink cycle.
    blink_epoch: Instant,
    /// Until then every LED is lit, whatever the status: the lamp test at start.
    lamp_test_until: Instant,
}

/// How long every LED is lit when the panel starts (the lamp test of docs/panel.md), however soon
/// the agent's first status replaces the boot splash: a lamp that stays dark now is broken.
pub const LAMP_TEST: Duration = Duration::from_secs(2);

/// What [`open_panel`] builds: the panel, and the button for the agent's button thread.
pub struct PanelParts {
    pub panel: Panel,
    /// The button's input, for [`super::hardware::spawn_button_thread`]; `None` without one.
    pub button: Option<Box<dyn ButtonInput>>,
    /// For `press [--long]` through the control socket, with the simulated panel.
    pub sim_button: Option<SimButtonHandle>,
}

/// Builds the panel of `config.kind`. A part that cannot be started is left out with a warning
/// in the log and in [`Panel::problems`] / [`Panel::attention`]; this never fails.
pub fn open_panel(config: PanelConfig, now: Instant) -> PanelParts {
    let mut missing: Vec<(HardwarePart, String)> = Vec::new();
    let mut note = |part: HardwarePart, e: super::PanelError| {
        log::warn!("front panel: {e}; running on without the {}", part.as_str());
        missing.push((part, e.to_string()));
    };
    let mut display: Option<Box<dyn Display>> = None;
    let mut led_out: Option<Box<dyn Leds>> = None;
    let mut button: Option<Box<dyn ButtonInput>> = None;
    let mut sim_button = None;
    match config.kind {
        PanelKind::None => {}
        PanelKind::Hardware => {
            match Oled::open(&config.i2c_device, config.i2c_address, config.rotate_180) {
                Ok(d) => display = Some(Box::new(d)),
                Err(e) => note(HardwarePart::Display, e),
            }
            match GpioLeds::open(&Cdev, &config.gpio) {
                Ok(l) => led_out = Some(Box::new(l)),
                Err(error) => note(
                    HardwarePart::Leds,
                    super::PanelError::Gpio {
                        part: "LEDs",
                        error,
                    },
                ),
            }
            match GpioButton::open(&Cdev, &config.gpio) {
                Ok(b) => button = Some(Box::new(b)),
                Err(error) => note(
                    HardwarePart::Button,
                    super::PanelError::Gpio {
                        part: "button",
                        error,
                    },
                ),
            }
        }
        PanelKind::Sim => {
            match SimDisplay::new(&config.state_dir, config.sim_scale, config.sim_history) {
                Ok(d) => display = Some(Box::new(d)),
                Err(e) => note(HardwarePart::Display, e),
            }
            match SimLeds::new(&config.state_dir) {
                Ok(l) => led_out = Some(Box::new(l)),
                Err(e) => note(HardwarePart::Leds, e),
            }
            let (b, handle) = SimButton::new(config.button.long_press);
            button = Some(Box::new(b));
            sim_button = Some(handle);
        }
    }
    let mut panel = Panel::with_parts(config, display, led_out, now);
    panel.missing = missing;
    PanelParts {
        panel,
        button,
        sim_button,
    }
}

impl Panel {
    /// A panel over the given parts (`None`: that part is absent).
    pub fn with_parts(
        config: PanelConfig,
        display: Option<Box<dyn Display>>,
        leds: Option<Box<dyn Leds>>,
        now: Instant,
    ) -> Panel {
        Panel {
            config,
            display: display.map(|d| Part::new(d, HardwarePart::Display)),
            leds: leds.map(|l| Part::new(l, HardwarePart::Leds)),
            missing: Vec::new(),
            status: None,
            shown: None,
            dim_shown: None,
            led_shown: None,
            page_epoch: now,
            last_wake: now,
            blink_epoch: now,
            lamp_test_until: now + LAMP_TEST,
        }
    }

    /// Parts that are missing or failing now, with the reason (for `status` and the log).
    pub fn problems(&self) -> Vec<(HardwarePart, String)> {
        let mut out = self.missing.clone();
        for (which, failing) in [
            self.display.as_ref().map(|p| (p.which, &p.failing)),
            self.leds.as_ref().map(|p| (p.which, &p.failing)),
        ]
        .into_iter()
        .flatten()
        {
            if let Some((e, _)) = failing {
                out.push((which, e.clone()));
            }
        }
        out
    }

    /// [`Panel::problems`] as attention reasons, for the daemon to put into the [`Status`].
    pub fn attention(&self) -> Vec<Attention> {
        let mut parts: Vec<HardwarePart> = self.problems().into_iter().map(|(p, _)| p).collect();
        parts.dedup();
        parts
            .into_iter()
            .map(|part| Attention::HardwareMissing { part })
            .collect()
    }

    /// The frame the display shows now (after any burn-in shift), if one was flushed.
    pub fn frame(&self) -> Option<&Frame> {
        self.shown.as_ref()
    }

    /// Whether the display is dimmed for burn-in care.
    pub fn is_dimmed(&self) -> bool {
        self.dim_shown == Some(true)
    }

    /// The status to show from now on; a change of screen kind (or a new notice) wakes the
    /// display. Shows it at once.
    pub fn update(&mut self, status: Status, now: Instant) {
        let changed_kind = self
            .status
            .as_ref()
            .is_none_or(|old| old.screen.kind() != status.screen.kind());
        let new_notice = status.notice.is_some()
            && self
                .status
                .as_ref()
                .is_none_or(|old| old.notice != status.notice);
        if changed_kind || new_notice {
            self.last_wake = now;
            if changed_kind {
                self.page_epoch = now;
            }
        }
        self.status = Some(status);
        self.refresh(now);
    }

    /// A button press (or anything else a person did): full brightness, picture in place.
    pub fn wake(&mut self, now: Instant) {
        self.last_wake = now;
        self.refresh(now);
    }

    /// Time passes: pages alternate, LEDs blink, the display dims. Call every 100–250 ms.
    pub fn tick(&mut self, now: Instant) {
        self.refresh(now);
    }

    /// The idle page at `now`.
    fn page(&self, now: Instant) -> Page {
        let period = self.config.page_period.as_millis().max(1);
        let n = now.saturating_duration_since(self.page_epoch).as_millis() / period;
        if n.is_multiple_of(2) {
            Page::Main
        } else {
            Page::Second
        }
    }

    fn refresh(&mut self, now: Instant) {
        let Some(status) = &self.status else {
            return;
        };
        let idle_for = now.saturating_duration_since(self.last_wake);
        let dim = idle_for >= self.config.idle_dim_after;
        let mut frame = render_frame(status, self.page(now));
        if dim {
            let since_dim = idle_for - self.config.idle_dim_after;
            let step = since_dim.as_millis() / self.config.shift_period.as_millis().max(1);
            let (dx, dy) = SHIFTS[(step % SHIFTS.len() as u128) as usize];
            frame = frame.shifted(dx, dy);
        }
        let pattern = if now < self.lamp_test_until {
            LedState::ALL_ON
        } else {
            leds(status)
        };
        let half = (self.config.blink_period.as_millis() / 2).max(1);
        let phase_on =
            (now.saturating_duration_since(self.blink_epoch).as_millis() / half).is_multiple_of(2);
        let lit = pattern.lit(phase_on);

        if let Some(part) = &mut self.display {
            if part.may_try(now) {
                if self.dim_shown != Some(dim) {
                    let r = part.device.set_dim(dim);
                    if part.result(r, now) {
                        self.dim_shown = Some(dim);
                    } else {
                        self.dim_shown = None;
                        self.shown = None;
                    }
                }
                if part.failing.is_none() && self.shown.as_ref() != Some(&frame) {
                    let r = part.device.flush(&frame);
                    if part.result(r, now) {
                        self.shown = Some(frame);
                    } else {
                        // Re-send everything once it answers again.
                        self.shown = None;
                        self.dim_shown = None;
                    }
                }
            }
        }
        if let Some(part) = &mut self.leds {
            if part.may_try(now) && self.led_shown != Some((pattern, lit)) {
                let r = part.device.set(&pattern, lit);
                if part.result(r, now) {
                    self.led_shown = Some((pattern, lit));
                }
            }
        }
    }

    /// Runs the panel on its own thread, ticking every `tick`; the handle sends it statuses and
    /// wakes, and stops it when dropped.
    pub fn spawn(mut self, tick: Duration) -> std::io::Result<PanelHandle> {
        let (tx, rx) = mpsc::channel::<Message>();
        let thread = std::thread::Builder::new()
            .name("panel".into())
            .spawn(move || loop {
                match rx.recv_timeout(tick) {
                    Ok(Message::Update(status)) => self.update(*status, Instant::now()),
                    Ok(Message::Wake) => self.wake(Instant::now()),
                    Err(mpsc::RecvTimeoutError::Timeout) => self.tick(Instant::now()),
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                }
            })?;
        Ok(PanelHandle {
            tx,
            thread: Some(thread),
        })
    }
}

enum Message {
    Update(Box<Status>),
    Wake,
}

/// The panel running on its own thread ([`Panel::spawn`]).
pub struct PanelHandle {
    tx: mpsc::Sender<Message>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PanelHandle {
    /// Shows a new status.
    pub fn update(&self, status: Status) {
        let _ = self.tx.send(Message::Update(Box::new(status)));
    }

    /// A button press: wake the display.
    pub fn wake(&self) {
        let _ = self.tx.send(Message::Wake);
    }
}

impl Drop for PanelHandle {
    fn drop(&mut self) {
        // Closing the channel ends the thread.
        let (tx, _) = mpsc::channel();
        drop(std::mem::replace(&mut self.tx, tx));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::config::Language;
    use crate::panel::leds::Led;
    use crate::panel::status::{Notice, Progress, Screen};
    use crate::panel::PanelError;

    #[derive(Debug, Clone, PartialEq)]
    enum Call {
        Flush(Box<Frame>),
        Dim(bool),
        Leds(LedState, Lit),
    }

    /// A display and LEDs that record what they are asked; the display fails while `fail` is
    /// set.
    #[derive(Clone, Default)]
    struct Recorder {
        calls: Arc<Mutex<Vec<Call>>>,
        fail: Arc<Mutex<bool>>,
    }

    impl Recorder {
        fn take(&self) -> Vec<Call> {
            std::mem::take(&mut *self.calls.lock().expect("lock"))
        }
        fn push(&self, c: Call) -> Result<(), PanelError> {
            if *self.fail.lock().expect("lock") && !matches!(c, Call::Leds(..)) {
                return Err(PanelError::OledNotAnswering {
                    device: "/dev/i2c-1".into(),
                    address: 0x3C,
                    what: "unplugged".into(),
                });
            }
            self.calls.lock().expect("lock").push(c);
            Ok(())
        }
    }

    impl Display for Recorder {
        fn flush(&mut self, frame: &Frame) -> Result<(), PanelError> {
            self.push(Call::Flush(Box::new(frame.clone())))
        }
        fn set_dim(&mut self, dim: bool) -> Result<(), PanelError> {
            self.push(Call::Dim(dim))
        }
    }

    impl Leds for Recorder {
        fn set(&mut self, pattern: &LedState, lit: Lit) -> Result<(), PanelError> {
            self.push(Call::Leds(*pattern, lit))
        }
    }

    fn status(screen: Screen) -> Status {
        let now = chrono::NaiveDate::from_ymd_opt(2026, 11, 26)
            .and_then(|d| d.and_hms_opt(10, 0, 0))
            .expect("date");
        let mut s = Status::booting(Language::Id, now, "WIB");
        s.screen = screen;
        s.clock_synced = true;
        s
    }

    fn running() -> Screen {
        Screen::Running(Progress {
            source: "pmi".into(),
            manual: false,
            bytes: 0,
            rate_bytes_per_s: 0,
            fraction: Some(0.1),
            targets: vec!["HDD".into()],
        })
    }

    /// A panel whose lamp test ended just before `t0`.
    fn panel(rec: &Recorder, t0: Instant) -> Panel {
        Panel::with_parts(
            PanelConfig::default(),
            Some(Box::new(rec.clone())),
            Some(Box::new(rec.clone())),
            t0 - LAMP_TEST,
        )
    }

    /// Found by the image's boot test (issue 14): the agent's first status came so soon after
    /// start that the boot splash's all-on never reached the LEDs.
    #[test]
    fn every_led_is_lit_for_the_lamp_test_whatever_comes_first() {
        let rec = Recorder::default();
        let t0 = Instant::now();
        let mut p = Panel::with_parts(
            PanelConfig::default(),
            Some(Box::new(rec.clone())),
            Some(Box::new(rec.clone())),
            t0,
        );
        p.update(status(Screen::Idle), t0 + ms(10));
        let lit = |calls: Vec<Call>| -> Vec<Lit> {
            calls
                .into_iter()
                .filter_map(|c| match c {
                    Call::Leds(_, lit) => Some(lit),
                    _ => None,
                })
                .collect()
        };
        let all = Lit {
            green: true,
            amber: true,
            red: true,
        };
        assert_eq!(lit(rec.take()), vec![all], "all on at once");
        p.tick(t0 + LAMP_TEST - ms(100));
        assert!(lit(rec.take()).is_empty(), "still the lamp test");
        p.tick(t0 + LAMP_TEST);
        let healthy = Lit {
            green: true,
            ..Lit::default()
        };
        assert_eq!(lit(rec.take()), vec![healthy], "then the status's own");
    }

    fn flushes(calls: &[Call]) -> Vec<Frame> {
        calls
            .iter()
            .filter_map(|c| match c {
                Call::Flush(f) => Some((**f).clone()),
                _ => None,
            })
            .collect()
    }

    const fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn only_changed_frames_are_flushed_and_pages_alternate() {
        let rec = Recorder::default();
        let t0 = Instant::now();
        let mut p = panel(&rec, t0);
        let s = status(Screen::Idle);
        p.update(s.clone(), t0);
        let calls = rec.take();
        assert_eq!(calls[0], Call::Dim(false));
        assert_eq!(flushes(&calls), vec![render_frame(&s, Page::Main)]);
        // Ticks within the first page period: nothing new.
        for i in 1..20 {
            p.tick(t0 + ms(200 * i));
        }
        assert!(flushes(&rec.take()).is_empty());
        // After 5 s the network page, after 10 s the main page again.
        p.tick(t0 + ms(5000));
        assert_eq!(flushes(&rec.take()), vec![render_frame(&s, Page::Second)]);
        p.tick(t0 + ms(10_000));
        assert_eq!(flushes(&rec.take()), vec![render_frame(&s, Page::Main)]);
        // The same status again changes nothing.
        p.update(s.clone(), t0 + ms(10_100));
        assert!(rec.take().is_empty());
        assert_eq!(p.frame(), Some(&render_frame(&s, Page::Main)));
    }

    #[test]
    fn leds_follow_the_status_and_blink() {
        let rec = Recorder::default();
        let t0 = Instant::now();
        let mut p = panel(&rec, t0);
        p.update(status(running()), t0);
        let leds_calls = |calls: Vec<Call>| -> Vec<Lit> {
            calls
                .into_iter()
                .filter_map(|c| match c {
                    Call::Leds(pattern, lit) => {
                        assert_eq!(pattern.green, Led::Blink);
                        Some(lit)
                    }
                    _ => None,
                })
                .collect()
        };
        let on = Lit {
            green: true,
            ..Lit::default()
        };
        assert_eq!(leds_calls(rec.take()), vec![on]);
        p.tick(t0 + ms(250));
        assert!(
            leds_calls(rec.take()).is_empty(),
            "unchanged LEDs are not set"
        );
        p.tick(t0 + ms(500));
        assert_eq!(leds_calls(rec.take()), vec![Lit::default()]);
        p.tick(t0 + ms(1000));
        assert_eq!(leds_calls(rec.take()), vec![on]);
    }

    #[test]
    fn dims_and_shifts_when_idle_and_wakes() {
        let rec = Recorder::default();
        let t0 = Instant::now();
        let mut p = panel(&rec, t0);
        let mut s = status(Screen::Idle);
        p.update(s.clone(), t0);
        rec.take();
        let dim_at = t0 + Duration::from_secs(600);
        // Land on the main page (the page period divides 600 s evenly).
        p.tick(dim_at);
        let calls = rec.take();
        assert!(calls.contains(&Call::Dim(true)), "{calls:?}");
        assert!(p.is_dimmed());
        let main = render_frame(&s, Page::Main);
        assert!(
            flushes(&calls).is_empty(),
            "the first position is unshifted: the same frame is not sent again"
        );
        // A minute later the picture has moved one pixel to the right.
        p.tick(dim_at + Duration::from_secs(60));
        assert_eq!(flushes(&rec.take()), vec![main.shifted(1, 0)]);
        // A button press: bright again and in place.
        p.wake(dim_at + Duration::from_secs(60) + ms(10));
        let calls = rec.take();
        assert!(calls.contains(&Call::Dim(false)));
        assert_eq!(flushes(&calls), vec![main.clone()]);
        assert!(!p.is_dimmed());

        // Dim again, then a change of screen kind wakes it.
        let later = dim_at + Duration::from_secs(60) + ms(10) + Duration::from_secs(600);
        p.tick(later);
        assert!(p.is_dimmed());
        rec.take();
        s.screen = running();
        p.update(s.clone(), later + ms(10));
        let calls = rec.take();
        assert!(calls.contains(&Call::Dim(false)), "{calls:?}");
        assert_eq!(flushes(&calls), vec![render_frame(&s, Page::Main)]);

        // So does a notice (the answer to a press).
        let much_later = later + Duration::from_secs(1200);
        p.tick(much_later);
        assert!(p.is_dimmed());
        s.notice = Some(Notice::BackupAlreadyRunning);
        p.update(s, much_later + ms(10));
        assert!(!p.is_dimmed());
    }

    #[test]
    fn a_failing_display_is_retried_and_reported_never_fatal() {
        let rec = Recorder::default();
        let t0 = Instant::now();
        let mut p = panel(&rec, t0);
        *rec.fail.lock().expect("lock") = true;
        let s = status(Screen::Idle);
        p.update(s.clone(), t0);
        assert_eq!(p.problems().len(), 1);
        assert_eq!(
            p.attention(),
            vec![Attention::HardwareMissing {
                part: HardwarePart::Display
            }]
        );
        // The LEDs work on regardless.
        assert!(rec.take().iter().any(|c| matches!(c, Call::Leds(..))));
        // Not retried before the back-off (1 s), then retried.
        p.tick(t0 + ms(500));
        *rec.fail.lock().expect("lock") = false;
        p.tick(t0 + ms(900));
        assert!(flushes(&rec.take()).is_empty());
        p.tick(t0 + ms(1100));
        let calls = rec.take();
        assert_eq!(calls[0], Call::Dim(false), "brightness is sent again");
        assert_eq!(flushes(&calls), vec![render_frame(&s, Page::Main)]);
        assert!(p.problems().is_empty());
    }

    #[test]
    fn missing_parts_and_no_panel() {
        let t0 = Instant::now();
        let mut p = Panel::with_parts(PanelConfig::default(), None, None, t0);
        p.update(status(Screen::Idle), t0);
        p.tick(t0 + ms(100));
        assert_eq!(p.frame(), None);

        let parts = open_panel(
            PanelConfig {
                kind: PanelKind::None,
                ..PanelConfig::default()
            },
            t0,
        );
        assert!(parts.panel.problems().is_empty() && parts.button.is_none());
    }

    /// Off a Raspberry Pi (this test machine, or a Pi without the OLED) every part is reported
    /// missing, with reasons, and the panel still runs.
    #[test]
    fn hardware_that_is_not_there_is_reported_not_fatal() {
        let t0 = Instant::now();
        let mut parts = open_panel(
            PanelConfig {
                i2c_device: "/nonexistent/i2c-1".into(),
                ..PanelConfig::default()
            },
            t0,
        );
        let problems = parts.panel.problems();
        assert!(
            problems
                .iter()
                .any(|(p, e)| *p == HardwarePart::Display && e.contains("/nonexistent/i2c-1")),
            "{problems:?}"
        );
        // Without GPIO chips (this kernel has none), both GPIO parts say so, through the real
        // character-device backend.
        let no_chips = crate::panel::gpio::uapi::GpioUapi::chips(&Cdev)
            .map(|c| c.is_empty())
            .unwrap_or(false);
        if no_chips {
            for part in [HardwarePart::Leds, HardwarePart::Button] {
                assert!(
                    problems
                        .iter()
                        .any(|(p, e)| *p == part && e.contains("there is no GPIO chip")),
                    "{problems:?}"
                );
            }
            assert!(parts.button.is_none());
        }
        parts.panel.update(status(Screen::Idle), t0);
        parts.panel.tick(t0 + ms(100));
    }

    #[test]
    fn the_simulated_panel_writes_its_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let t0 = Instant::now();
        let parts = open_panel(
            PanelConfig {
                kind: PanelKind::Sim,
                state_dir: dir.path().to_path_buf(),
                ..PanelConfig::default()
            },
            t0,
        );
        assert!(parts.panel.problems().is_empty());
        assert!(parts.button.is_some() && parts.sim_button.is_some());
        let handle = parts.panel.spawn(ms(50)).expect("panel thread");
        let s = status(Screen::Idle);
        handle.update(s.clone());
        let png = dir.path().join("panel/oled.png");
        let leds = dir.path().join("panel/leds.json");
        let deadline = Instant::now() + Duration::from_secs(5);
        while !(png.exists() && leds.exists()) && Instant::now() < deadline {
            std::thread::sleep(ms(20));
        }
        drop(handle);
        let (frame, scale) = Frame::from_png(&std::fs::read(&png).expect("oled.png")).expect("png");
        assert_eq!(scale, 4);
        assert_eq!(frame, render_frame(&s, Page::Main));
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&leds).expect("leds.json")).expect("json");
        assert_eq!(v["green"], "on");
        assert_eq!(v["lit"]["green"], true);
    }
}
