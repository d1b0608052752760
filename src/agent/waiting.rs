/*!
`run` with a configuration it cannot use. The daemon never dies on bad input: instead of exiting
(and being restarted by systemd every few seconds with a blank panel), it shows the error —
`config.toml:LINE:COLUMN` — on the panel's error screen with the red LED, reports it to systemd
(`READY=1`, `STATUS=`, watchdog pings) and to the log, and reads the file again every few seconds.
Once the file loads, the daemon proper starts with it. The panel is the default one (the hardware
at the default pins and bus, or the simulated one with `--sim`), since the file that would say
otherwise is the one that cannot be read.
*/

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::sd::Notifier;
use crate::config::{Config, ConfigError, Language, PanelKind, DEFAULT_STATE_DIR};
use crate::panel::status::{self as ps, Screen, Status};
use crate::panel::{open_panel, PanelConfig};

/// How often the file is read again.
pub const RETRY: Duration = Duration::from_secs(5);

/// Where the error is, for the panel's short line: `config.toml:12:3`.
pub fn short_location(e: &ConfigError) -> String {
    let name = e
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| e.file.display().to_string());
    if e.line == 0 {
        name
    } else {
        format!("{name}:{}:{}", e.line, e.column)
    }
}

/// What can still be read from a file that does not load: `state_dir` (where the simulated
/// panel draws) and `language`, when the TOML parses and they are plain; else the defaults.
pub fn salvage(path: &Path) -> (PathBuf, Language) {
    let table = std::fs::read_to_string(path)
        .ok()
        .and_then(|t| t.parse::<toml::Table>().ok());
    let state_dir = table
        .as_ref()
        .and_then(|t| t.get("state_dir")?.as_str().map(PathBuf::from))
        .filter(|p| p.is_absolute())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR));
    let language = match table.as_ref().and_then(|t| t.get("language")?.as_str()) {
        Some("en") => Language::En,
        _ => Language::Id,
    };
    (state_dir, language)
}

/// The panel's status while waiting: the error screen, red LED.
pub fn status_for(e: &ConfigError, language: Language, now: chrono::NaiveDateTime) -> Status {
    let tz = chrono_tz::Asia::Jakarta;
    let mut s = Status::booting(language, now, &ps::tz_abbrev(tz));
    let failure = ps::Failure::ConfigInvalid {
        at: short_location(e),
    };
    s.screen = Screen::Error(crate::panel::texts::failure_info(&failure, language));
    s.failures = vec![failure];
    s
}

/// Waits until `path` loads. `None`: stopped (SIGTERM/SIGINT) before that.
pub fn wait_for_config(path: &Path, first: ConfigError, sim: bool) -> Option<Config> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut handlers = Vec::new();
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        match signal_hook::flag::register(sig, Arc::clone(&stop)) {
            Ok(id) => handlers.push(id),
            Err(e) => log::warn!("cannot watch signal {sig}: {e}"),
        }
    }
    // Leaving this mode, the daemon installs its own handlers: these must not swallow a SIGTERM
    // that arrives in between.
    let unregister = |handlers: Vec<signal_hook::SigId>| {
        for id in handlers {
            signal_hook::low_level::unregister(id);
        }
    };
    let (state_dir, language) = salvage(path);
    let pc = PanelConfig {
        kind: if sim {
            PanelKind::Sim
        } else {
            PanelKind::Hardware
        },
        state_dir,
        ..PanelConfig::default()
    };
    let mut panel = open_panel(pc, Instant::now()).panel;
    let mut sd = Notifier::from_env();
    sd.ready();
    let mut err = first;
    let mut shown: Option<String> = None;
    loop {
        let text = err.to_string();
        if shown.as_deref() != Some(text.as_str()) {
            log::error!("{text}. The agent waits: fix the file (`simdondar-backup config check`); it is read again every {} s", RETRY.as_secs());
            let now = chrono::Utc::now()
                .with_timezone(&chrono_tz::Asia::Jakarta)
                .naive_local();
            panel.update(status_for(&err, language, now), Instant::now());
            shown = Some(text.clone());
        }
        let until = Instant::now() + RETRY;
        while Instant::now() < until {
            if stop.load(Ordering::Relaxed) {
                sd.stopping();
                unregister(handlers);
                return None;
            }
            sd.alive(&format!("configuration invalid: {text}"));
            panel.tick(Instant::now());
            std::thread::sleep(Duration::from_millis(250));
        }
        match Config::load(path) {
            Ok(cfg) => {
                log::info!("{} is valid now; starting", path.display());
                unregister(handlers);
                return Some(cfg);
            }
            Err(e) => err = e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_screen_names_the_place_and_lights_red() {
        let e = ConfigError {
            file: "/etc/simdondar-backup/config.toml".into(),
            line: 12,
            column: 3,
            message: "unknown key `intervl`".into(),
        };
        let now = chrono::NaiveDate::from_ymd_opt(2026, 11, 26)
            .and_then(|d| d.and_hms_opt(10, 0, 0))
            .expect("date");
        let s = status_for(&e, Language::Id, now);
        match &s.screen {
            Screen::Error(info) => {
                assert_eq!(info.what, "Konfigurasi salah: config.toml:12:3");
                assert!(info.todo.contains("config check"), "{}", info.todo);
            }
            other => panic!("not the error screen: {other:?}"),
        }
        let leds = crate::panel::leds::leds(&s);
        assert_eq!(leds.red, crate::panel::leds::Led::On, "the red LED is on");
        assert_eq!(leds.green, crate::panel::leds::Led::Off, "green is off");
        let en = status_for(&e, Language::En, now);
        assert!(
            matches!(&en.screen, Screen::Error(i) if i.what == "Config invalid: config.toml:12:3")
        );
    }

    #[test]
    fn salvage_reads_what_it_can() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("c.toml");
        std::fs::write(
            &p,
            "state_dir = \"/srv/st\"\nlanguage = \"en\"\nbogus = 1\n",
        )
        .expect("write");
        assert_eq!(salvage(&p), (PathBuf::from("/srv/st"), Language::En));
        std::fs::write(&p, "state_dir = [unclosed").expect("write");
        assert_eq!(
            salvage(&p),
            (PathBuf::from(DEFAULT_STATE_DIR), Language::Id)
        );
        std::fs::write(&p, "state_dir = \"relative\"").expect("write");
        assert_eq!(salvage(&p).0, PathBuf::from(DEFAULT_STATE_DIR));
    }
}
