/*!
The simulated panel (`run --sim`, tests, headless demos): the same screens written as PNG files,
the LEDs as a JSON file, the button fed from a channel.

- `state_dir/panel/oled.png`: the current picture (at `scale`, white on black), replaced
  atomically (written to a temporary name, then renamed);
- `state_dir/panel/history/oled-000001.png`, …: every changed frame, numbered on across restarts,
  the newest `history_keep` kept;
- `state_dir/panel/oled.json`: `{"dim": false, "frames": 12}`;
- `state_dir/panel/leds.json`: `{"green": "blink", "amber": "off", "red": "on",
  "lit": {"green": true, "amber": false, "red": true}}`, the pattern and what is lit now.
*/

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::frame::Frame;
use super::hardware::{ButtonInput, Display, Leds, LevelChange};
use super::leds::{LedState, Lit};
use super::PanelError;

/// The directory of the simulated panel's files.
pub fn panel_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("panel")
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> PanelError + '_ {
    move |error| PanelError::SimFile {
        path: path.to_path_buf(),
        error,
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename, so a
/// reader never sees half a file.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PanelError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err(path))
}

/// The simulated OLED.
#[derive(Debug)]
pub struct SimDisplay {
    dir: PathBuf,
    scale: u32,
    history_keep: u64,
    /// Number of the last history file written.
    counter: u64,
    shown: Option<Frame>,
    dim: bool,
}

impl SimDisplay {
    /// Creates `state_dir/panel/history` and continues the numbering found there.
    pub fn new(state_dir: &Path, scale: u32, history_keep: u64) -> Result<SimDisplay, PanelError> {
        let dir = panel_dir(state_dir);
        let history = dir.join("history");
        std::fs::create_dir_all(&history).map_err(io_err(&history))?;
        let counter = std::fs::read_dir(&history)
            .map_err(io_err(&history))?
            .filter_map(|e| e.ok())
            .filter_map(|e| history_number(&e.file_name().to_string_lossy()))
            .max()
            .unwrap_or(0);
        Ok(SimDisplay {
            dir,
            scale: scale.max(1),
            history_keep: history_keep.max(1),
            counter,
            shown: None,
            dim: false,
        })
    }

    /// The file holding the current picture.
    pub fn png_path(&self) -> PathBuf {
        self.dir.join("oled.png")
    }

    fn history_path(&self, n: u64) -> PathBuf {
        self.dir.join("history").join(format!("oled-{n:06}.png"))
    }

    fn write_meta(&self) -> Result<(), PanelError> {
        let meta = serde_json::json!({ "dim": self.dim, "frames": self.counter });
        write_atomic(&self.dir.join("oled.json"), meta.to_string().as_bytes())
    }
}

/// `oled-000123.png` → 123.
fn history_number(name: &str) -> Option<u64> {
    name.strip_prefix("oled-")?
        .strip_suffix(".png")?
        .parse()
        .ok()
}

impl Display for SimDisplay {
    fn flush(&mut self, frame: &Frame) -> Result<(), PanelError> {
        if self.shown.as_ref() == Some(frame) {
            return Ok(());
        }
        let png = frame.to_png(self.scale);
        write_atomic(&self.png_path(), &png)?;
        self.counter += 1;
        write_atomic(&self.history_path(self.counter), &png)?;
        // Keep the newest `history_keep`; older ones may be left from a previous run.
        let mut old = self.counter.saturating_sub(self.history_keep);
        while old > 0 {
            let path = self.history_path(old);
            match std::fs::remove_file(&path) {
                Ok(()) => old -= 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                Err(e) => return Err(io_err(&path)(e)),
            }
        }
        self.shown = Some(frame.clone());
        self.write_meta()
    }

    fn set_dim(&mut self, dim: bool) -> Result<(), PanelError> {
        self.dim = dim;
        self.write_meta()
    }
}

/// The simulated LEDs.
#[derive(Debug)]
pub struct SimLeds {
    path: PathBuf,
    last: Option<(LedState, Lit)>,
}

impl SimLeds {
    /// Creates `state_dir/panel`.
    pub fn new(state_dir: &Path) -> Result<SimLeds, PanelError> {
        let dir = panel_dir(state_dir);
        std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        Ok(SimLeds {
            path: dir.join("leds.json"),
            last: None,
        })
    }

    /// The file holding the LED states.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Leds for SimLeds {
    fn set(&mut self, pattern: &LedState, lit: Lit) -> Result<(), PanelError> {
        if self.last == Some((*pattern, lit)) {
            return Ok(());
        }
        let json = serde_json::json!({
            "green": pattern.green,
            "amber": pattern.amber,
            "red": pattern.red,
            "lit": lit,
        });
        write_atomic(&self.path, json.to_string().as_bytes())?;
        self.last = Some((*pattern, lit));
        Ok(())
    }
}

/// The simulated button: level changes arrive from [`SimButtonHandle`]s.
#[derive(Debug)]
pub struct SimButton {
    rx: mpsc::Receiver<LevelChange>,
}

/// Presses the simulated button (from the control socket's `press [--long]`).
#[derive(Clone, Debug)]
pub struct SimButtonHandle {
    tx: mpsc::Sender<LevelChange>,
    long_press: Duration,
}

impl SimButton {
    /// A simulated button whose long press is held for `long_press` plus a margin.
    pub fn new(long_press: Duration) -> (SimButton, SimButtonHandle) {
        let (tx, rx) = mpsc::channel();
        (SimButton { rx }, SimButtonHandle { tx, long_press })
    }
}

impl SimButtonHandle {
    /// A press and its release: held 100 ms (short) or the long-press time plus 100 ms (long).
    /// The release carries its (future) instant, so a long press is recognised at once and a
    /// short one within about 150 ms. Returns `false` when the button's reader has gone.
    pub fn press(&self, long: bool) -> bool {
        let now = Instant::now();
        let hold = if long {
            self.long_press + Duration::from_millis(100)
        } else {
            Duration::from_millis(100)
        };
        let changes = [
            LevelChange {
                pressed: true,
                at: now,
            },
            LevelChange {
                pressed: false,
                at: now + hold,
            },
        ];
        changes.into_iter().all(|c| self.tx.send(c).is_ok())
    }
}

impl ButtonInput for SimButton {
    fn wait_change(&mut self, timeout: Duration) -> Result<Option<LevelChange>, PanelError> {
        match self.rx.recv_timeout(timeout) {
            Ok(change) => Ok(Some(change)),
            Err(mpsc::RecvTimeoutError::Timeout) => Ok(None),
            // No handle left: nobody can press any more; behave like an idle button.
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                std::thread::sleep(timeout);
                Ok(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::panel::button::{ButtonConfig, ButtonEvent};
    use crate::panel::hardware::spawn_button_thread;
    use crate::panel::leds::Led;

    #[test]
    fn display_writes_changed_frames_and_bounded_history() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut d = SimDisplay::new(dir.path(), 2, 3).expect("sim display");
        let mut f = Frame::new();
        for i in 0..5 {
            f.set(i, i, true);
            d.flush(&f).expect("flush");
            d.flush(&f)
                .expect("an unchanged frame is not written again");
        }
        let history = panel_dir(dir.path()).join("history");
        let mut names: Vec<String> = std::fs::read_dir(&history)
            .expect("history")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["oled-000003.png", "oled-000004.png", "oled-000005.png"]
        );
        let png = std::fs::read(d.png_path()).expect("oled.png");
        assert_eq!(Frame::from_png(&png).expect("png"), (f.clone(), 2));
        d.set_dim(true).expect("dim");
        let meta: serde_json::Value = serde_json::from_slice(
            &std::fs::read(panel_dir(dir.path()).join("oled.json")).expect("oled.json"),
        )
        .expect("json");
        assert_eq!(meta, serde_json::json!({"dim": true, "frames": 5}));

        // A restart numbers on.
        let mut d = SimDisplay::new(dir.path(), 2, 3).expect("sim display");
        f.set(100, 0, true);
        d.flush(&f).expect("flush");
        assert!(history.join("oled-000006.png").exists());
        assert!(!history.join("oled-000003.png").exists());
        assert!(!panel_dir(dir.path()).join("oled.png.tmp").exists());
    }

    #[test]
    fn leds_json() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut l = SimLeds::new(dir.path()).expect("sim leds");
        let pattern = LedState {
            green: Led::Blink,
            amber: Led::Off,
            red: Led::On,
        };
        l.set(&pattern, pattern.lit(false)).expect("set");
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(l.path()).expect("read")).expect("json");
        assert_eq!(
            v,
            serde_json::json!({"green": "blink", "amber": "off", "red": "on",
                "lit": {"green": false, "amber": false, "red": true}})
        );
    }

    #[test]
    fn simulated_presses_through_the_button_thread() {
        let config = ButtonConfig {
            debounce: Duration::from_millis(30),
            long_press: Duration::from_millis(300),
        };
        let (button, handle) = SimButton::new(config.long_press);
        let (tx, rx) = mpsc::channel();
        let thread = spawn_button_thread(Box::new(button), config, move |e| tx.send(e).is_ok())
            .expect("thread");
        assert!(handle.press(false));
        let wait = Duration::from_secs(5);
        assert_eq!(rx.recv_timeout(wait), Ok(ButtonEvent::ShortPress));
        assert!(handle.press(true));
        assert_eq!(rx.recv_timeout(wait), Ok(ButtonEvent::LongPress));
        // Nothing more comes for the release of the long press.
        assert!(rx.recv_timeout(Duration::from_millis(600)).is_err());
        drop(rx);
        assert!(handle.press(false));
        thread.join().expect("the thread ends once nobody listens");
    }
}
