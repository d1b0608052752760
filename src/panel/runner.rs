/*!
The panel runner: owns the display and the LEDs, is told the [`Status`] whenever it changes
([`Panel::update`]) and is ticked every 100–250 ms ([`Panel::tick`]) by whoever drives it — the
agent's event loop, or the panel's own thread ([`Panel::spawn`]).

On each update or tick it picks the page (the idle screen alternates main ↔ network every
`page_period`), renders, shifts the picture while dimmed, flushes the frame only if it changed,
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
use super::gpio::{GpioButton, GpioLeds, LedPins};
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
    /// BCM pins of the LEDs.
    pub led_pins: LedPins,
    /// BCM pin of the button (to GND, internal pull-up).
    pub button_pin: u8,
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
            led_pins: LedPins::default(),
            button_pin: 23,
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
}

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
            match GpioLeds::open(config.led_pins) {
                Ok(l) => led_out = Some(Box::new(l)),
                Err(e) => note(HardwarePart::Leds, e),
            }
            match GpioButton::open(config.button_pin) {
                Ok(b) => button = Some(Box::new(b)),
                Err(e) => note(HardwarePart::Button, e),
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
        if n % 2 == 0 {
            Page::Main
        } else {
            Page::Network
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
        let pattern = leds(status);
        let half = (self.config.blink_period.as_millis() / 2).max(1);
        let phase_on =
            (now.saturating_duration_since(self.blink_epoch).as_millis() / half) % 2 == 0;
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
