/*!
Checking the configuration: the raw file ([`super::raw`]) into the typed [`super::Config`], with
defaults, every error located (`file:line:column`) and worded with what to write instead. This
file checks the whole and every section but the sources; [`sources`] checks the sources.
*/

use toml::Spanned;

use super::raw::*;
use super::*;

mod metrics;
mod offsite;
mod sources;

pub(super) struct Checker<'a> {
    pub(super) path: &'a Path,
    pub(super) text: &'a str,
}

impl Checker<'_> {
    fn err(&self, span: Range<usize>, message: impl Into<String>) -> ConfigError {
        let (line, column) = line_col(self.text, span.start);
        ConfigError {
            file: self.path.to_path_buf(),
            line,
            column,
            message: message.into(),
        }
    }

    fn abs_path(&self, v: &Spanned<String>, what: &str) -> Result<PathBuf, ConfigError> {
        let p = PathBuf::from(v.get_ref());
        if !p.is_absolute() {
            return Err(self.err(
                v.span(),
                format!(
                    "{what} must be an absolute path (starting with /), got \"{}\"",
                    v.get_ref()
                ),
            ));
        }
        Ok(p)
    }

    /// A name that becomes a folder, a file name or a label: 1 to 64 lowercase letters, digits,
    /// '-' or '_'. `what` starts the error ("source name", "off-site name"), `why` ends it.
    fn check_name(&self, v: &Spanned<String>, what: &str, why: &str) -> Result<(), ConfigError> {
        let name = v.get_ref();
        if name.is_empty()
            || name.len() > 64
            || !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        {
            return Err(self.err(
                v.span(),
                format!(
                    "{what} \"{name}\" must be 1 to 64 lowercase letters, digits, '-' or '_'{why}"
                ),
            ));
        }
        Ok(())
    }

    fn count(&self, v: &Option<Spanned<i64>>, key: &str, default: u32) -> Result<u32, ConfigError> {
        match v {
            None => Ok(default),
            Some(s) => u32::try_from(*s.get_ref()).map_err(|_| {
                self.err(
                    s.span(),
                    format!(
                        "{key} must be a whole number of 0 or more, got {}",
                        s.get_ref()
                    ),
                )
            }),
        }
    }

    pub(super) fn check(&self, raw: RawConfig) -> Result<Config, ConfigError> {
        let timezone = match &raw.timezone {
            None => chrono_tz::Asia::Jakarta,
            Some(tz) => tz.get_ref().parse::<chrono_tz::Tz>().map_err(|_| {
                self.err(
                    tz.span(),
                    format!(
                        "unknown time zone \"{}\": use an IANA name such as \"Asia/Jakarta\" (WIB), \"Asia/Makassar\" (WITA) or \"Asia/Jayapura\" (WIT)",
                        tz.get_ref()
                    ),
                )
            })?,
        };
        let state_dir = match &raw.state_dir {
            None => PathBuf::from(DEFAULT_STATE_DIR),
            Some(v) => self.abs_path(v, "state_dir")?,
        };
        let runtime_dir = match &raw.runtime_dir {
            None => PathBuf::from("/run/simdondar-backup"),
            Some(v) => self.abs_path(v, "runtime_dir")?,
        };

        let mut sources: Vec<SourceConfig> = Vec::new();
        for s in &raw.source {
            let src = self.check_source(s.get_ref())?;
            if sources.iter().any(|o| o.name == src.name) {
                return Err(self.err(
                    s.get_ref().name.span(),
                    format!(
                        "a source named \"{}\" is already defined: every source needs its own name",
                        src.name
                    ),
                ));
            }
            sources.push(src);
        }

        let manual_reminder = match &raw.schedule.manual_reminder {
            None => Duration::from_secs(3 * 86_400),
            Some(v) => parse_duration(v.get_ref()).map_err(|m| self.err(v.span(), m))?,
        };

        let mut targets = Vec::new();
        for t in &raw.target {
            let t = t.get_ref();
            let path = self.abs_path(&t.path, "target path")?;
            if targets.iter().any(|o: &TargetConfig| o.path == path) {
                return Err(self.err(t.path.span(), "this target path is listed twice"));
            }
            targets.push(TargetConfig {
                path,
                role: t.role.unwrap_or(Role::Auto),
            });
        }

        let label_prefix = match &raw.disks.label_prefix {
            None => DEFAULT_LABEL_PREFIX.to_string(),
            Some(v) => {
                let p = v.get_ref();
                if p.is_empty()
                    || p.len() > 11
                    || !p
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                {
                    return Err(self.err(
                        v.span(),
                        "label_prefix must be 1 to 11 ASCII letters, digits, '-' or '_' (a FAT label holds at most 11 characters)",
                    ));
                }
                p.clone()
            }
        };

        let mut recipients = Vec::new();
        for r in raw.encryption.recipients.iter().flatten() {
            let v = r.get_ref().trim();
            if !v.starts_with("age1") || v.len() < 20 || v.chars().any(char::is_whitespace) {
                return Err(self.err(
                    r.span(),
                    "an encryption recipient must be an age public key starting with \"age1\" (create one with `simdondar-backup keygen --out FILE`)",
                ));
            }
            recipients.push(v.to_string());
        }

        let retention = self.check_retention(&raw.retention)?;

        let mut offsite: Vec<OffsiteConfig> = Vec::new();
        for o in &raw.offsite {
            let checked = self.check_offsite(o, &recipients)?;
            if offsite.iter().any(|x| {
                x.endpoint == checked.endpoint
                    && x.bucket == checked.bucket
                    && x.prefix == checked.prefix
            }) {
                return Err(self.err(
                    o.get_ref().bucket.span(),
                    "another [[offsite]] uses the same endpoint, bucket and prefix: each store needs its own place",
                ));
            }
            if offsite.iter().any(|x| x.name == checked.name) {
                return Err(self.err(
                    o.get_ref().name.span(),
                    format!(
                        "an off-site store named \"{}\" is already defined",
                        checked.name
                    ),
                ));
            }
            offsite.push(checked);
        }

        let level = match &raw.compression.level {
            // Level 1: on SIMDONDAR's dumps (hex-encoded photos) it stores no more than level 3
            // at a quarter of the CPU (docs/decisions.md, issue 17).
            None => 1,
            Some(v) => {
                let l = *v.get_ref();
                if !(1..=19).contains(&l) {
                    return Err(self.err(
                        v.span(),
                        format!("compression level must be between 1 and 19 (1, the default, is the fastest and stores SIMDONDAR's dumps as small as 3), got {l}"),
                    ));
                }
                l as i32
            }
        };
        let threads = match &raw.compression.threads {
            None => 0,
            Some(v) => {
                let t = *v.get_ref();
                if !(0..=64).contains(&t) {
                    return Err(self.err(
                        v.span(),
                        format!(
                            "compression threads must be between 0 (automatic) and 64, got {t}"
                        ),
                    ));
                }
                t as u32
            }
        };

        Ok(Config {
            path: self.path.to_path_buf(),
            timezone,
            language: raw.language.unwrap_or(Language::Id),
            state_dir,
            runtime_dir,
            sources,
            schedule: ScheduleConfig {
                manual_reminder,
                restore_test: match &raw.schedule.restore_test {
                    None => Some(Duration::from_secs(7 * 86_400)),
                    Some(v) if matches!(v.get_ref().trim(), "0" | "never" | "off") => None,
                    Some(v) => {
                        Some(parse_duration(v.get_ref()).map_err(|m| self.err(v.span(), m))?)
                    }
                },
                scrub: match &raw.schedule.scrub {
                    None => Some(Duration::from_secs(7 * 86_400)),
                    Some(v) if matches!(v.get_ref().trim(), "0" | "never" | "off") => None,
                    Some(v) => {
                        Some(parse_duration(v.get_ref()).map_err(|m| self.err(v.span(), m))?)
                    }
                },
            },
            targets,
            disks: DisksConfig {
                match_: raw.disks.match_.unwrap_or(DiskMatch::Usb),
                label_prefix,
                fat_split_size: self.split_size(&raw.disks.fat_split_size)?,
            },
            encryption: EncryptionConfig {
                recipients,
                require_for: raw
                    .encryption
                    .require_for
                    .unwrap_or_else(|| vec![Role::Manual]),
            },
            panel: raw.panel.kind.unwrap_or(PanelKind::Hardware),
            panel_hw: self.check_panel(&raw.panel)?,
            retention,
            compression: CompressionConfig { level, threads },
            agent: self.check_agent(&raw.agent)?,
            notify: self.check_notify(&raw.notify)?,
            offsite,
            metrics: self.check_metrics(&raw.metrics)?,
        })
    }

    fn duration(
        &self,
        v: &Option<Spanned<String>>,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        match v {
            None => Ok(default),
            Some(v) => parse_duration(v.get_ref()).map_err(|m| self.err(v.span(), m)),
        }
    }

    /// A line number: a BCM number on the Raspberry Pi header with `auto`, else an offset.
    fn line_number(
        &self,
        v: &Option<Spanned<i64>>,
        key: &str,
        default: u32,
        auto: bool,
    ) -> Result<u32, ConfigError> {
        let Some(p) = v else { return Ok(default) };
        let n = *p.get_ref();
        if auto {
            if (0..=27).contains(&n) {
                return Ok(n as u32);
            }
            return Err(self.err(
                p.span(),
                format!(
                    "{key} must be a BCM GPIO number from 0 to 27 (the Raspberry Pi header), got {n}; \
                     on another board set gpio_chip, or {key}_line to the line's name"
                ),
            ));
        }
        u32::try_from(n).map_err(|_| {
            self.err(
                p.span(),
                format!(
                    "{key} must be a line offset of the chip, 0 or more, got {n} (see `gpioinfo`)"
                ),
            )
        })
    }

    /// A line name, as `gpioinfo` shows it (the kernel keeps at most 31 bytes).
    fn line_name(
        &self,
        v: &Option<Spanned<String>>,
        key: &str,
    ) -> Result<Option<String>, ConfigError> {
        let Some(v) = v else { return Ok(None) };
        let name = v.get_ref();
        if name.is_empty()
            || name.len() > 31
            || name.trim() != name
            || name.contains(char::is_control)
        {
            return Err(self.err(
                v.span(),
                format!(
                    "{key} must be a GPIO line name as `gpioinfo` shows it (1 to 31 characters, no \
                     spaces around it), e.g. \"GPIO23\""
                ),
            ));
        }
        Ok(Some(name.clone()))
    }

    fn check_panel(&self, p: &RawPanel) -> Result<PanelHw, ConfigError> {
        let d = PanelHw::default();
        let i2c_address = match &p.i2c_address {
            None => d.i2c_address,
            Some(a) if (0x03..=0x77).contains(a.get_ref()) => *a.get_ref() as u16,
            Some(a) => {
                return Err(self.err(
                    a.span(),
                    "i2c_address must be a 7-bit I2C address (0x3C or 0x3D for an SSD1306)",
                ))
            }
        };
        let gpio_chip = match &p.gpio_chip {
            None => GpioChip::Auto,
            Some(v) if v.get_ref() == "auto" => GpioChip::Auto,
            Some(v) => {
                let c = v.get_ref();
                if c.is_empty() || c.trim() != c || c.contains(char::is_control) {
                    return Err(self.err(
                        v.span(),
                        "gpio_chip must be \"auto\" or a GPIO chip as `gpioinfo` shows it: a path \
                         (\"/dev/gpiochip0\"), a name (\"gpiochip0\") or a label (\"pinctrl-bcm2711\")",
                    ));
                }
                GpioChip::Given(c.clone())
            }
        };
        let button_pressed = match &p.button_pressed {
            None => d.button_pressed,
            Some(v) if v.get_ref() == "low" => ButtonPressed::Low,
            Some(v) if v.get_ref() == "high" => ButtonPressed::High,
            Some(v) => {
                return Err(self.err(
                    v.span(),
                    "button_pressed must be \"low\" (a button to GND, with the pull-up) or \
                     \"high\" (a button to 3.3 V, with the pull-down)",
                ))
            }
        };
        let auto = gpio_chip == GpioChip::Auto;
        let hw = PanelHw {
            i2c_device: match &p.i2c_device {
                None => d.i2c_device,
                Some(v) => self.abs_path(v, "i2c_device")?,
            },
            i2c_address,
            led_green: self.line_number(&p.led_green, "led_green", d.led_green, auto)?,
            led_amber: self.line_number(&p.led_amber, "led_amber", d.led_amber, auto)?,
            led_red: self.line_number(&p.led_red, "led_red", d.led_red, auto)?,
            button: self.line_number(&p.button, "button", d.button, auto)?,
            led_green_line: self.line_name(&p.led_green_line, "led_green_line")?,
            led_amber_line: self.line_name(&p.led_amber_line, "led_amber_line")?,
            led_red_line: self.line_name(&p.led_red_line, "led_red_line")?,
            button_line: self.line_name(&p.button_line, "button_line")?,
            button_pressed,
            gpio_chip,
            long_press: self.duration(&p.long_press, d.long_press)?,
            idle_dim: self.duration(&p.idle_dim, d.idle_dim)?,
        };
        self.check_panel_lines(p, &hw, auto)?;
        Ok(hw)
    }

    /// No two parts on one line, and (on the Raspberry Pi header) none on the OLED's I2C. A
    /// part given by name is checked by name; lines that meet only on the chip (a name and a
    /// number for the same line) are caught when the agent finds them.
    fn check_panel_lines(&self, p: &RawPanel, hw: &PanelHw, auto: bool) -> Result<(), ConfigError> {
        // (key, number, its span, name, its span), in the file's usual order.
        let parts = [
            (
                "led_green",
                hw.led_green,
                &p.led_green,
                &hw.led_green_line,
                &p.led_green_line,
            ),
            (
                "led_amber",
                hw.led_amber,
                &p.led_amber,
                &hw.led_amber_line,
                &p.led_amber_line,
            ),
            (
                "led_red",
                hw.led_red,
                &p.led_red,
                &hw.led_red_line,
                &p.led_red_line,
            ),
            (
                "button",
                hw.button,
                &p.button,
                &hw.button_line,
                &p.button_line,
            ),
        ];
        let span_of_number =
            |v: &Option<Spanned<i64>>| v.as_ref().map(|s| s.span()).unwrap_or(0..0);
        let span_of_name =
            |v: &Option<Spanned<String>>| v.as_ref().map(|s| s.span()).unwrap_or(0..0);
        for (i, (key, number, number_at, name, name_at)) in parts.iter().enumerate() {
            match name {
                None => {
                    if auto && [2, 3].contains(number) {
                        return Err(self.err(
                            span_of_number(number_at),
                            format!(
                                "{key}: GPIO {number} is the OLED's I2C bus (2 = SDA, 3 = SCL); choose another pin"
                            ),
                        ));
                    }
                    if let Some((other, ..)) = parts[..i]
                        .iter()
                        .find(|(_, n, _, nm, _)| nm.is_none() && n == number)
                    {
                        return Err(self.err(
                            span_of_number(number_at),
                            format!(
                                "{key}: GPIO {number} is already the {other}'s; every part needs its own pin"
                            ),
                        ));
                    }
                }
                Some(name) => {
                    if let Some((other, ..)) = parts[..i]
                        .iter()
                        .find(|(_, _, _, nm, _)| nm.as_deref() == Some(name.as_str()))
                    {
                        return Err(self.err(
                            span_of_name(name_at),
                            format!(
                                "{key}_line: the line \"{name}\" is already the {other}'s; every part needs its own line"
                            ),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    fn check_agent(&self, a: &RawAgent) -> Result<AgentConfig, ConfigError> {
        let schedule_offset = match &a.schedule_offset {
            None => Duration::from_secs(120),
            Some(v) if v.get_ref().trim() == "0" => Duration::ZERO,
            Some(v) => parse_duration(v.get_ref()).map_err(|m| self.err(v.span(), m))?,
        };
        let stall_timeout = match &a.stall_timeout {
            None => Duration::from_secs(120),
            Some(v) => {
                let d = parse_duration(v.get_ref()).map_err(|m| self.err(v.span(), m))?;
                if d < Duration::from_secs(1) {
                    return Err(self.err(
                        v.span(),
                        "stall_timeout must be at least 1s (a disk or a dump that makes no progress this long is dropped)",
                    ));
                }
                d
            }
        };
        Ok(AgentConfig {
            schedule_offset,
            stall_timeout,
            socket_group: a.socket_group.as_ref().map(|g| g.get_ref().clone()),
        })
    }

    fn check_notify(&self, n: &RawNotify) -> Result<NotifyConfig, ConfigError> {
        if let Some(w) = &n.webhook {
            let v = w.get_ref();
            if !(v.starts_with("https://") || v.starts_with("http://"))
                || v.contains(char::is_whitespace)
            {
                return Err(self.err(w.span(), "webhook must be an http:// or https:// URL"));
            }
        }
        if let Some(r) = &n.smtp_relay {
            let ok = r
                .get_ref()
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
            if !ok {
                return Err(self.err(
                    r.span(),
                    "smtp_relay must be host:port, e.g. \"mail.pmi.local:587\"",
                ));
            }
            if n.mail_to.is_empty() || n.mail_from.is_none() {
                return Err(self.err(r.span(), "with smtp_relay, set mail_from and mail_to too"));
            }
        }
        for m in n.mail_to.iter().chain(n.mail_from.iter()) {
            let v = m.get_ref();
            if !v.contains('@')
                || v.contains(['\r', '\n', '<', '>', ' '])
                || v.parse::<lettre::Address>().is_err()
            {
                return Err(self.err(m.span(), format!("\"{v}\" is not a mail address")));
            }
        }
        // The relay's other settings mean nothing without it: a typo must not pass silently.
        if n.smtp_relay.is_none() {
            let lone = [
                n.smtp_credentials
                    .as_ref()
                    .map(|v| ("smtp_credentials", v.span())),
                n.smtp_ca_file.as_ref().map(|v| ("smtp_ca_file", v.span())),
                n.smtp_tls.as_ref().map(|v| ("smtp_tls", v.span())),
            ];
            if let Some((key, span)) = lone.into_iter().flatten().next() {
                return Err(self.err(
                    span,
                    format!("{key} has no meaning without smtp_relay = \"host:port\""),
                ));
            }
        }
        let smtp_tls = n
            .smtp_tls
            .as_ref()
            .map(|t| *t.get_ref())
            .unwrap_or_default();
        let smtp_credentials = match &n.smtp_credentials {
            None => None,
            Some(v) => {
                if smtp_tls == SmtpTls::Opportunistic {
                    return Err(self.err(
                        v.span(),
                        "smtp_credentials need smtp_tls = \"starttls\" or \"tls\": with \"opportunistic\" the password would travel in clear to a relay that offers no STARTTLS",
                    ));
                }
                let path = self.abs_path(v, "smtp_credentials")?;
                // Only the mode here: the content is read when a mail is sent and by
                // `config check` (a member of the socket group may load this file too).
                self.check_secret_file(&path, v.span(), "smtp_credentials")?;
                Some(path)
            }
        };
        let smtp_ca_file = match &n.smtp_ca_file {
            None => None,
            Some(v) => {
                let path = self.abs_path(v, "smtp_ca_file")?;
                if let Err(e) = std::fs::metadata(&path) {
                    return Err(self.err(
                        v.span(),
                        format!("smtp_ca_file {} cannot be read: {e}", path.display()),
                    ));
                }
                Some(path)
            }
        };
        Ok(NotifyConfig {
            webhook: n.webhook.as_ref().map(|w| w.get_ref().clone()),
            smtp_relay: n.smtp_relay.as_ref().map(|w| w.get_ref().clone()),
            smtp_tls,
            smtp_credentials,
            smtp_ca_file,
            mail_from: n.mail_from.as_ref().map(|w| w.get_ref().clone()),
            mail_to: n.mail_to.iter().map(|w| w.get_ref().clone()).collect(),
        })
    }

    fn split_size(&self, v: &Option<Spanned<toml::Value>>) -> Result<u64, ConfigError> {
        const FAT_MAX: u64 = (4 << 30) - 1;
        let Some(v) = v else { return Ok(FAT_MAX) };
        let n = match v.get_ref() {
            toml::Value::Integer(i) if *i > 0 => Some(*i as u64),
            toml::Value::String(s) => parse_size(s),
            _ => None,
        };
        match n {
            Some(n) if (1 << 20..=FAT_MAX).contains(&n) => Ok(n),
            _ => Err(self.err(
                v.span(),
                "fat_split_size must be a size from 1 MiB to 4 GiB − 1, e.g. 4294967295 or \"2GiB\"",
            )),
        }
    }

    fn check_retention(&self, r: &RawRetention) -> Result<RetentionConfig, ConfigError> {
        let d = RetentionConfig::default();
        let min_keep = self.count(&r.min_keep, "min_keep", d.min_keep)?;
        if min_keep < SOP_MIN_KEEP {
            if let Some(v) = &r.min_keep {
                return Err(self.err(
                    v.span(),
                    format!(
                        "min_keep cannot be lower than {SOP_MIN_KEEP}: the SOP requires at least five distinct backups (got {min_keep})"
                    ),
                ));
            }
        }
        Ok(RetentionConfig {
            keep_last: self.count(&r.keep_last, "keep_last", d.keep_last)?,
            keep_hourly: self.count(&r.keep_hourly, "keep_hourly", d.keep_hourly)?,
            keep_daily: self.count(&r.keep_daily, "keep_daily", d.keep_daily)?,
            keep_weekly: self.count(&r.keep_weekly, "keep_weekly", d.keep_weekly)?,
            keep_monthly: self.count(&r.keep_monthly, "keep_monthly", d.keep_monthly)?,
            keep_yearly: self.count(&r.keep_yearly, "keep_yearly", d.keep_yearly)?,
            min_keep,
        })
    }
}
