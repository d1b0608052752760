/*!
The front panel as the daemon drives it: picks the real hardware, the simulated panel or none
(`[panel] kind`, or `--sim`), starts the button thread, and turns the daemon's [`State`] into the
panel's [`Status`] — a pure mapping ([`status_of`]) tested here.
*/

use std::sync::mpsc::Sender;
use std::time::Instant;

use chrono::{DateTime, Utc};

use super::daemon::{Input, PanelPort};
use super::state::{DiskPhase, Event, JobTrigger, Notice, Overlay, Press, State};
use super::step::{self, health};
use crate::config::{ButtonPressed, Config, GpioChip, PanelKind};
use crate::panel::gpio::{ChipSpec, GpioLines, LineSpec, Pressed};
use crate::panel::status::{self as ps, Screen, Status};
use crate::panel::{hardware, open_panel, ButtonConfig, ButtonEvent, Panel, PanelConfig};

/// The panel and what it could not start.
pub struct DaemonPanel {
    panel: Panel,
    language: crate::config::Language,
    tz: chrono_tz::Tz,
    last: Option<Status>,
    extra_attention: Vec<ps::Attention>,
}

/// A line by its name when one is set, else by its number.
fn line(offset: u32, name: &Option<String>) -> LineSpec {
    match name {
        Some(n) => LineSpec::Name(n.clone()),
        None => LineSpec::Offset(offset),
    }
}

/// The panel's settings from the configuration.
pub fn panel_config(cfg: &Config, sim: bool) -> PanelConfig {
    let hw = &cfg.panel_hw;
    PanelConfig {
        kind: if sim { PanelKind::Sim } else { cfg.panel },
        state_dir: cfg.state_dir.clone(),
        i2c_device: hw.i2c_device.clone(),
        i2c_address: hw.i2c_address as u8,
        gpio: GpioLines {
            chip: match &hw.gpio_chip {
                GpioChip::Auto => ChipSpec::Auto,
                GpioChip::Given(c) => ChipSpec::Given(c.clone()),
            },
            green: line(hw.led_green, &hw.led_green_line),
            amber: line(hw.led_amber, &hw.led_amber_line),
            red: line(hw.led_red, &hw.led_red_line),
            button: line(hw.button, &hw.button_line),
            button_pressed: match hw.button_pressed {
                ButtonPressed::Low => Pressed::Low,
                ButtonPressed::High => Pressed::High,
            },
        },
        button: ButtonConfig {
            long_press: hw.long_press,
            ..ButtonConfig::default()
        },
        idle_dim_after: hw.idle_dim,
        ..PanelConfig::default()
    }
}

/// Opens the panel; the button's gestures go to the daemon as events.
pub fn make(cfg: &Config, sim: bool, tx: Sender<Input>) -> (Box<dyn PanelPort>, Vec<String>) {
    let pc = panel_config(cfg, sim);
    let button_cfg = pc.button;
    let parts = open_panel(pc, Instant::now());
    if let Some(input) = parts.button {
        let r = hardware::spawn_button_thread(input, button_cfg, move |ev| {
            let p = match ev {
                ButtonEvent::ShortPress => Press::Short,
                ButtonEvent::LongPress => Press::Long,
            };
            tx.send(Input::Event(Event::Button(p))).is_ok()
        });
        if let Err(e) = r {
            log::warn!("cannot start the button thread: {e}");
        }
    }
    let problems: Vec<String> = parts
        .panel
        .problems()
        .into_iter()
        .map(|(part, why)| format!("{}: {why}", part.as_str()))
        .collect();
    let extra_attention = parts.panel.attention();
    (
        Box::new(DaemonPanel {
            panel: parts.panel,
            language: cfg.language,
            tz: cfg.timezone,
            last: None,
            extra_attention,
        }),
        problems,
    )
}

impl PanelPort for DaemonPanel {
    fn show(&mut self, state: &State) {
        let now = Instant::now();
        let mut status = status_of(state, self.language, self.tz);
        for a in &self.extra_attention {
            if !status.attention.contains(a) {
                status.attention.push(a.clone());
            }
        }
        if self.last.as_ref() != Some(&status) {
            if self.last.as_ref().map(|s| s.screen.kind()) != Some(status.screen.kind())
                || self.last.as_ref().map(|s| s.notice) != Some(status.notice)
            {
                self.panel.wake(now);
            }
            self.panel.update(status.clone(), now);
            self.last = Some(status);
        }
        self.panel.tick(now);
    }

    fn wake(&mut self) {
        self.panel.wake(Instant::now());
    }
}

fn local(t: DateTime<Utc>, tz: chrono_tz::Tz) -> chrono::NaiveDateTime {
    t.with_timezone(&tz).naive_local()
}

/// The host's IPv4/IPv6 addresses, without loopback and link-local ones.
fn addresses() -> Vec<String> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for a in addrs {
        let Some(addr) = a.address else { continue };
        if let Some(v4) = addr.as_sockaddr_in() {
            let ip = v4.ip();
            if !ip.is_loopback() {
                out.push(ip.to_string());
            }
        } else if let Some(v6) = addr.as_sockaddr_in6() {
            let ip = v6.ip();
            if !ip.is_loopback() && (ip.segments()[0] & 0xffc0) != 0xfe80 {
                out.push(ip.to_string());
            }
        }
    }
    out.dedup();
    out
}

/// The panel's view of the daemon's state.
pub fn status_of(s: &State, language: crate::config::Language, tz: chrono_tz::Tz) -> Status {
    let h = health(s);
    let mut st = Status::booting(language, local(s.wall, tz), &ps::tz_abbrev(tz));
    st.clock_synced = s.clock_synced;
    if !s.started {
        return st;
    }
    // The newest result of any source.
    let newest = s
        .sources
        .iter()
        .filter_map(|x| Some((x.last_finished?, x.last_result.as_ref()?)))
        .max_by_key(|(t, _)| *t);
    st.last_backup = match newest {
        Some((t, r)) => Some(ps::LastBackup {
            at: local(t, tz),
            ok: r.ok,
            reason: r.reason.clone(),
        }),
        None => s
            .sources
            .iter()
            .filter_map(|x| x.last_finished)
            .max()
            .map(|t| ps::LastBackup {
                at: local(t, tz),
                ok: true,
                reason: None,
            }),
    };
    st.next_backup = s.sources.iter().filter_map(|x| x.due).min().map(|due| {
        local(
            s.wall + chrono::Duration::milliseconds((due - s.now).max(0)),
            tz,
        )
    });
    st.disks = s
        .disks
        .values()
        .filter(|d| d.phase != DiskPhase::SafeToRemove)
        .map(|d| {
            let v = d.view.as_ref();
            ps::DiskLine {
                label: d.shown_label(),
                role: v.and_then(|v| v.role),
                free_bytes: v.and_then(|v| v.free_bytes),
                size_bytes: d.dev.size_bytes,
                unreadable: v.is_some_and(|v| v.unreadable),
            }
        })
        .collect();
    st.days_since_manual = s
        .last_manual_copy
        .map(|t| (s.wall - t).num_days().max(0) as u32);
    st.restore_test = s.last_restore_test.map(|(t, passed)| ps::RestoreTest {
        at: local(t, tz),
        passed,
    });
    let db_results: Vec<bool> = s
        .sources
        .iter()
        .filter(|x| x.is_database)
        .filter_map(|x| x.last_result.as_ref().map(|r| !r.db_unreachable))
        .collect();
    st.network = ps::Network {
        hostname: crate::clock::hostname().unwrap_or_default(),
        addresses: addresses(),
        db_reachable: if db_results.is_empty() {
            None
        } else {
            Some(db_results.iter().all(|ok| *ok))
        },
    };
    for a in &h.attention {
        st.attention.push(match a {
            step::Attention::ManualOverdue { .. } => {
                st.manual_overdue = true;
                ps::Attention::ManualOverdue
            }
            step::Attention::DiskNearlyFull { label } => ps::Attention::DiskNearlyFull {
                label: label.clone(),
            },
            step::Attention::DiskUnreadable { label } => ps::Attention::DiskUnreadable {
                label: label.clone(),
            },
            step::Attention::ClockNotSynced => ps::Attention::ClockNotSynced,
            step::Attention::CopyWentBad { label } => ps::Attention::CopyWentBad {
                label: label.clone(),
            },
            step::Attention::NoEncryptionKey => ps::Attention::NoEncryptionKey,
            step::Attention::AuditNotWritten { .. } => ps::Attention::AuditNotWritten,
            step::Attention::KeyCheckDue { .. } => ps::Attention::KeyCheckDue,
            step::Attention::OffsiteFailed { failure, .. } => {
                ps::Attention::OffsiteFailed { failure: *failure }
            }
            step::Attention::OffsiteOverdue { .. } => ps::Attention::OffsiteOverdue,
            // The panel adds its own hardware reasons.
            step::Attention::HardwareMissing { .. } => continue,
        });
    }
    for f in &h.failures {
        let pf = match f {
            step::Failure::LastBackupFailed {
                reason, failure, ..
            } => ps::Failure::LastBackupFailed {
                reason: reason.clone(),
                failure: *failure,
            },
            step::Failure::NoBackupDisk => ps::Failure::NoBackupDisk,
            step::Failure::DatabaseUnreachable => ps::Failure::DatabaseUnreachable,
            step::Failure::NoAutoBackupFor2Intervals { .. } => {
                ps::Failure::NoAutoBackupFor2Intervals
            }
            step::Failure::DiskNotSafe { label } => ps::Failure::DiskNotSafe {
                label: label.clone(),
            },
            step::Failure::DiskNotAnswering { label } => ps::Failure::DiskNotAnswering {
                label: label.clone(),
            },
            step::Failure::FewGoodCopies {
                label,
                source,
                good,
            } => ps::Failure::FewGoodCopies {
                label: label.clone(),
                source: source.clone(),
                good: *good,
            },
            step::Failure::RestoreTestFailed { summary } => ps::Failure::LastBackupFailed {
                reason: format!("restore test: {summary}"),
                failure: None,
            },
        };
        if !st.failures.contains(&pf) {
            st.failures.push(pf);
        }
    }
    st.notice = s.notice.map(|(n, _)| match n {
        Notice::ManualStarted => ps::Notice::BackupStarting,
        Notice::ManualQueued => ps::Notice::ManualQueued,
        Notice::ManualAlreadyQueued => ps::Notice::AlreadyQueued,
        Notice::BackupAlreadyRunning => ps::Notice::BackupAlreadyRunning,
        Notice::NothingToEject => ps::Notice::NoManualDisk,
    });
    let ejecting: Vec<String> = s
        .disks
        .values()
        .filter(|d| d.phase == DiskPhase::Ejecting)
        .map(|d| d.shown_label())
        .collect();
    st.busy = s.running.is_some() || !ejecting.is_empty();
    st.screen = match (&s.overlay, &s.running) {
        (Some((Overlay::SafeToRemove { labels }, _)), _) => Screen::SafeToRemove {
            labels: labels.clone(),
        },
        (Some((Overlay::UnknownDisk { label, why }, _)), _) => Screen::UnknownDisk {
            label: label.clone(),
            why: *why,
        },
        (
            Some((
                Overlay::BackupFailed {
                    reason,
                    failure,
                    started,
                },
                _,
            )),
            _,
        ) => Screen::Error(crate::panel::texts::backup_failed_info(
            reason, *failure, *started, language,
        )),
        (Some((Overlay::EjectFailed { reason, failure }, _)), _) => Screen::Error(
            crate::panel::texts::eject_failed_info(reason, *failure, language),
        ),
        (None, Some(job)) => {
            let p = job.progress.clone().unwrap_or_default();
            Screen::Running(ps::Progress {
                source: if p.source.is_empty() {
                    job.sources.first().cloned().unwrap_or_default()
                } else {
                    p.source.clone()
                },
                manual: job.trigger != JobTrigger::Schedule,
                bytes: p.bytes,
                rate_bytes_per_s: p.rate_bytes_per_s,
                fraction: p
                    .expected_bytes
                    .filter(|e| *e > 0)
                    .map(|e| (p.bytes as f32 / (e as f32 * 2.0)).min(0.99)),
                targets: job.target_labels.clone(),
            })
        }
        (None, None) if !ejecting.is_empty() => Screen::Ejecting { labels: ejecting },
        (None, None) => Screen::Idle,
    };
    st
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::state::{History, DEFAULT_OFFSET};
    use std::path::Path;

    #[test]
    fn boot_then_idle_then_running() {
        let cfg = Config::parse(
            Path::new("/t.toml"),
            "[[source]]\nname = \"pmi\"\nkind = \"command\"\ncommand = [\"true\"]\n[[target]]\npath = \"/srv/b\"\n",
        )
        .expect("config");
        let mut s = State::new(&cfg, &History::default(), DEFAULT_OFFSET);
        let tz = chrono_tz::Asia::Jakarta;
        assert_eq!(status_of(&s, cfg.language, tz).screen, Screen::Boot);
        let acts = step::step(
            &mut s,
            Event::Tick {
                mono: 0,
                wall: Utc::now(),
                synced: true,
            },
        );
        assert!(!acts.is_empty());
        let st = status_of(&s, cfg.language, tz);
        assert!(
            matches!(st.screen, Screen::Running(ref p) if p.source == "pmi" && p.targets == vec!["b".to_string()])
        );
        assert_eq!(st.tz_abbrev, "WIB");
        assert!(st.attention.contains(&ps::Attention::ManualOverdue));
        assert!(st.manual_overdue);
        assert!(st.busy, "a run is under way");

        // A disk plugged in during the run shows its own screen; the run still counts as busy
        // (the green LED keeps blinking: found by the image's boot test).
        s.overlay = Some((
            Overlay::UnknownDisk {
                label: "FLASH".into(),
                why: None,
            },
            i64::MAX,
        ));
        let st = status_of(&s, cfg.language, tz);
        assert!(
            matches!(st.screen, Screen::UnknownDisk { .. }),
            "{:?}",
            st.screen
        );
        assert!(st.busy);
        assert_eq!(
            crate::panel::leds::leds(&st).green,
            crate::panel::leds::Led::Blink
        );
    }

    /// `[panel]` reaches the GPIO backend: the chip, and a line name where one is set, else
    /// the number.
    #[test]
    fn gpio_settings_reach_the_panel() {
        let cfg = Config::parse(Path::new("/t.toml"), "").expect("config");
        assert_eq!(panel_config(&cfg, false).gpio, GpioLines::default());
        let cfg = Config::parse(
            Path::new("/t.toml"),
            "[panel]\ngpio_chip = \"gpiochip4\"\nled_amber = 5\nbutton_line = \"BTN\"\n\
             button_pressed = \"high\"\n",
        )
        .expect("config");
        assert_eq!(
            panel_config(&cfg, false).gpio,
            GpioLines {
                chip: ChipSpec::Given("gpiochip4".into()),
                green: LineSpec::Offset(17),
                amber: LineSpec::Offset(5),
                red: LineSpec::Offset(22),
                button: LineSpec::Name("BTN".into()),
                button_pressed: Pressed::High,
            }
        );
    }
}
