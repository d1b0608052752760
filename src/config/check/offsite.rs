/*!
Checking the off-site stores (`[[offsite]]`): names, the endpoint, the bucket and prefix, the
credentials file (readable by no one else), sizes and rates, and the rule that only encrypted
copies leave: a store without an age recipient to encrypt to is refused at its line.
*/

use toml::Spanned;

use super::super::offsite::*;
use super::super::raw::*;
use super::super::*;
use super::Checker;

/// The part size when none is given: 16 MiB, about 13 s on a 10 Mbit/s uplink.
pub const DEFAULT_PART_SIZE: u64 = 16 << 20;
/// S3's smallest part (every part but the last).
pub const MIN_PART_SIZE: u64 = 5 << 20;
/// The largest part this agent sends (its memory does not depend on it: parts are streamed).
pub const MAX_PART_SIZE: u64 = 512 << 20;

impl Checker<'_> {
    pub(super) fn check_offsite(
        &self,
        o: &Spanned<RawOffsite>,
        recipients: &[String],
    ) -> Result<OffsiteConfig, ConfigError> {
        let span = o.span();
        let o = o.get_ref();
        let name = o.name.get_ref();
        self.check_name(&o.name, "off-site name", "")?;
        if recipients.is_empty() {
            return Err(self.err(
                span,
                format!(
                    "off-site store \"{name}\": only encrypted copies may leave the building, and [encryption] recipients is empty: add the unit's age public key (`simdondar-backup keygen --out FILE` makes one)"
                ),
            ));
        }
        let endpoint = o
            .endpoint
            .get_ref()
            .trim()
            .trim_end_matches('/')
            .to_string();
        let rest = endpoint
            .strip_prefix("https://")
            .or_else(|| endpoint.strip_prefix("http://"));
        match rest {
            Some(host) if !host.is_empty() && !host.contains('/') && !host.contains('?') => {}
            _ => {
                return Err(self.err(
                    o.endpoint.span(),
                    "endpoint must be http(s)://HOST[:PORT] with no path, e.g. \"https://s3.pmi.example\" (requests are path-style: ENDPOINT/BUCKET/KEY)",
                ))
            }
        }
        let region = o
            .region
            .as_ref()
            .map(|r| r.get_ref().trim().to_string())
            .unwrap_or_else(|| "us-east-1".to_string());
        if region.is_empty() || region.chars().any(char::is_whitespace) {
            return Err(self.err(
                o.region.as_ref().map(|r| r.span()).unwrap_or(span.clone()),
                "region must be one word, e.g. \"garage\" or \"us-east-1\"",
            ));
        }
        let bucket = o.bucket.get_ref().clone();
        if bucket.len() < 3
            || bucket.len() > 63
            || !bucket
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        {
            return Err(self.err(
                o.bucket.span(),
                format!(
                    "bucket \"{bucket}\" must be 3 to 63 lowercase letters, digits, '-' or '.'"
                ),
            ));
        }
        let prefix = match &o.prefix {
            None => String::new(),
            Some(p) => {
                let v = p.get_ref();
                let ok = v.is_empty()
                    || (v.ends_with('/')
                        && !v.starts_with('/')
                        && !v.contains("//")
                        && v.split('/').all(|seg| seg != "." && seg != "..")
                        && v.chars().all(|c| {
                            c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/')
                        }));
                if !ok {
                    return Err(self.err(
                        p.span(),
                        format!("prefix \"{v}\" must be empty or folders ending in '/', e.g. \"utd-kota-x/\" (letters, digits, '-', '_', '.')"),
                    ));
                }
                v.clone()
            }
        };
        let credentials_file = self.abs_path(&o.credentials_file, "credentials_file")?;
        self.check_secret_file(
            &credentials_file,
            o.credentials_file.span(),
            "credentials_file",
        )?;
        if let Err(m) = S3Credentials::load(&credentials_file) {
            return Err(self.err(
                o.credentials_file.span(),
                format!(
                    "credentials_file {} {m} (write access_key_id = \"…\" and secret_access_key = \"…\")",
                    credentials_file.display()
                ),
            ));
        }
        let part_size = match &o.part_size {
            None => DEFAULT_PART_SIZE,
            Some(v) => match parse_size(v.get_ref()) {
                Some(n) if (MIN_PART_SIZE..=MAX_PART_SIZE).contains(&n) => n,
                _ => {
                    return Err(self.err(
                        v.span(),
                        format!(
                        "part_size must be a size from 5MiB to 512MiB, e.g. \"16MiB\", got \"{}\"",
                        v.get_ref()
                    ),
                    ))
                }
            },
        };
        let bandwidth = match &o.bandwidth {
            None => None,
            Some(v) => Some(parse_rate(v.get_ref()).ok_or_else(|| {
                self.err(
                    v.span(),
                    format!("bandwidth must be a rate such as \"4Mbit\" (bits per second) or \"512KiB\" (bytes per second), at least 64 Kbit, got \"{}\"", v.get_ref()),
                )
            })?),
        };
        let proxy = match &o.proxy {
            None => None,
            Some(v) => {
                let p = v.get_ref().trim();
                if !(p.starts_with("http://") || p.starts_with("https://")) {
                    return Err(self.err(
                        v.span(),
                        "proxy must be an http:// or https:// URL, e.g. \"http://proxy.utd:3128\"",
                    ));
                }
                Some(p.to_string())
            }
        };
        let ca_file = match &o.ca_file {
            None => None,
            Some(v) => Some(self.abs_path(v, "ca_file")?),
        };
        let check_every = match &o.check {
            None => Some(Duration::from_secs(7 * 86_400)),
            Some(v) if matches!(v.get_ref().trim(), "0" | "never" | "off") => None,
            Some(v) => Some(parse_duration(v.get_ref()).map_err(|m| self.err(v.span(), m))?),
        };
        let check_parts = match &o.check_parts {
            None => 2,
            Some(v) => match u32::try_from(*v.get_ref()) {
                Ok(n) if (1..=100).contains(&n) => n,
                _ => {
                    return Err(self.err(
                        v.span(),
                        format!("check_parts must be from 1 to 100, got {}", v.get_ref()),
                    ))
                }
            },
        };
        Ok(OffsiteConfig {
            name: name.clone(),
            endpoint,
            region,
            bucket,
            prefix,
            credentials_file,
            schedule: o
                .schedule
                .as_ref()
                .map(|s| *s.get_ref())
                .unwrap_or(OffsiteSchedule::Daily),
            part_size,
            bandwidth,
            proxy,
            ca_file,
            check_every,
            check_parts,
        })
    }
}

/// Parses a rate: `4Mbit`, `10mbit`, `512Kbit` (bits per second, decimal) or a size per second
/// (`512KiB`, `1MiB`: bytes). At least 64 Kbit/s (8000 B/s). In bytes per second.
pub fn parse_rate(s: &str) -> Option<u64> {
    let t = s.trim().trim_end_matches("/s").trim();
    let lower = t.to_ascii_lowercase();
    let bytes = if let Some(num) = lower.strip_suffix("bit") {
        let split = num.find(|c: char| !c.is_ascii_digit()).unwrap_or(num.len());
        let (n, unit) = num.split_at(split);
        let n: u64 = n.parse().ok()?;
        let mult: u64 = match unit.trim() {
            "" => 1,
            "k" => 1_000,
            "m" => 1_000_000,
            "g" => 1_000_000_000,
            _ => return None,
        };
        n.checked_mul(mult)? / 8
    } else {
        parse_size(t)?
    };
    (bytes >= 8_000).then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::parse_rate;

    #[test]
    fn rates() {
        assert_eq!(parse_rate("4Mbit"), Some(500_000));
        assert_eq!(parse_rate("10 mbit/s"), Some(1_250_000));
        assert_eq!(parse_rate("512KiB"), Some(512 * 1024));
        assert_eq!(parse_rate("1MiB/s"), Some(1 << 20));
        assert_eq!(parse_rate("8Kbit"), None, "below the floor");
        assert_eq!(parse_rate("fast"), None);
    }
}
