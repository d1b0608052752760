/*!
The configuration file as it is written: serde structs that mirror the TOML, every value
`Spanned` so a check can name its line and column, and `deny_unknown_fields` so a typo is an error.
[`super::check`] turns them into the typed [`super::Config`].
*/

use serde::Deserialize;
use toml::Spanned;

use super::{Consistency, DiskMatch, Language, PanelKind, Role, SmtpTls};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) timezone: Option<Spanned<String>>,
    pub(super) language: Option<Language>,
    pub(super) state_dir: Option<Spanned<String>>,
    pub(super) runtime_dir: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) source: Vec<Spanned<RawSource>>,
    #[serde(default)]
    pub(super) schedule: RawSchedule,
    #[serde(default)]
    pub(super) target: Vec<Spanned<RawTarget>>,
    #[serde(default)]
    pub(super) disks: RawDisks,
    #[serde(default)]
    pub(super) encryption: RawEncryption,
    #[serde(default)]
    pub(super) panel: RawPanel,
    #[serde(default)]
    pub(super) retention: RawRetention,
    #[serde(default)]
    pub(super) compression: RawCompression,
    #[serde(default)]
    pub(super) agent: RawAgent,
    #[serde(default)]
    pub(super) notify: RawNotify,
    #[serde(default)]
    pub(super) offsite: Vec<Spanned<RawOffsite>>,
    #[serde(default)]
    pub(super) metrics: RawMetrics,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMetrics {
    pub(super) textfile: Option<Spanned<String>>,
    pub(super) listen: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOffsite {
    pub(super) name: Spanned<String>,
    pub(super) endpoint: Spanned<String>,
    pub(super) region: Option<Spanned<String>>,
    pub(super) bucket: Spanned<String>,
    pub(super) prefix: Option<Spanned<String>>,
    pub(super) credentials_file: Spanned<String>,
    pub(super) schedule: Option<Spanned<super::offsite::OffsiteSchedule>>,
    pub(super) part_size: Option<Spanned<String>>,
    pub(super) bandwidth: Option<Spanned<String>>,
    pub(super) proxy: Option<Spanned<String>>,
    pub(super) ca_file: Option<Spanned<String>>,
    pub(super) check: Option<Spanned<String>>,
    pub(super) check_parts: Option<Spanned<i64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAgent {
    pub(super) schedule_offset: Option<Spanned<String>>,
    pub(super) socket_group: Option<Spanned<String>>,
    pub(super) stall_timeout: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNotify {
    pub(super) webhook: Option<Spanned<String>>,
    pub(super) smtp_relay: Option<Spanned<String>>,
    pub(super) smtp_tls: Option<Spanned<SmtpTls>>,
    pub(super) smtp_credentials: Option<Spanned<String>>,
    pub(super) smtp_ca_file: Option<Spanned<String>>,
    pub(super) mail_from: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) mail_to: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSource {
    pub(super) name: Spanned<String>,
    pub(super) kind: Spanned<String>,
    pub(super) socket: Option<Spanned<String>>,
    pub(super) host: Option<Spanned<String>>,
    pub(super) port: Option<Spanned<i64>>,
    pub(super) user: Option<Spanned<String>>,
    pub(super) password_file: Option<Spanned<String>>,
    pub(super) databases: Option<Spanned<Vec<String>>>,
    pub(super) interval: Option<Spanned<String>>,
    pub(super) consistency: Option<Spanned<Consistency>>,
    pub(super) dump_tool: Option<Spanned<String>>,
    pub(super) command: Option<Spanned<Vec<String>>>,
    pub(super) extension: Option<Spanned<String>>,
    pub(super) key_file: Option<Spanned<String>>,
    pub(super) known_hosts: Option<Spanned<String>>,
    pub(super) path: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSchedule {
    pub(super) manual_reminder: Option<Spanned<String>>,
    pub(super) restore_test: Option<Spanned<String>>,
    pub(super) scrub: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTarget {
    pub(super) path: Spanned<String>,
    pub(super) role: Option<Role>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDisks {
    #[serde(rename = "match")]
    pub(super) match_: Option<DiskMatch>,
    pub(super) label_prefix: Option<Spanned<String>>,
    pub(super) fat_split_size: Option<Spanned<toml::Value>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEncryption {
    pub(super) recipients: Option<Vec<Spanned<String>>>,
    pub(super) require_for: Option<Vec<Role>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPanel {
    pub(super) kind: Option<PanelKind>,
    pub(super) i2c_device: Option<Spanned<String>>,
    pub(super) i2c_address: Option<Spanned<i64>>,
    pub(super) gpio_chip: Option<Spanned<String>>,
    pub(super) led_green: Option<Spanned<i64>>,
    pub(super) led_amber: Option<Spanned<i64>>,
    pub(super) led_red: Option<Spanned<i64>>,
    pub(super) button: Option<Spanned<i64>>,
    pub(super) led_green_line: Option<Spanned<String>>,
    pub(super) led_amber_line: Option<Spanned<String>>,
    pub(super) led_red_line: Option<Spanned<String>>,
    pub(super) button_line: Option<Spanned<String>>,
    pub(super) button_pressed: Option<Spanned<String>>,
    pub(super) long_press: Option<Spanned<String>>,
    pub(super) idle_dim: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRetention {
    pub(super) keep_last: Option<Spanned<i64>>,
    pub(super) keep_hourly: Option<Spanned<i64>>,
    pub(super) keep_daily: Option<Spanned<i64>>,
    pub(super) keep_weekly: Option<Spanned<i64>>,
    pub(super) keep_monthly: Option<Spanned<i64>>,
    pub(super) keep_yearly: Option<Spanned<i64>>,
    pub(super) min_keep: Option<Spanned<i64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCompression {
    pub(super) level: Option<Spanned<i64>>,
    pub(super) threads: Option<Spanned<i64>>,
}
