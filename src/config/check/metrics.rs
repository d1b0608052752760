/*!
Checking `[metrics]`: the node_exporter textfile's path and the HTTP listener's address. Both are
off unless set (docs/decisions.md, issue 16); a value that cannot work is an error located at its
line and column.
*/

use std::net::SocketAddr;

use super::super::raw::RawMetrics;
use super::*;

impl Checker<'_> {
    pub(super) fn check_metrics(&self, m: &RawMetrics) -> Result<MetricsConfig, ConfigError> {
        let textfile = match &m.textfile {
            None => None,
            Some(v) if v.get_ref().is_empty() => None,
            Some(v) => {
                let p = self.abs_path(v, "[metrics] textfile")?;
                let name_ok = p
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.ends_with(".prom") && n.len() > ".prom".len());
                if !name_ok {
                    return Err(self.err(
                        v.span(),
                        "[metrics] textfile must be a file name ending in .prom (node_exporter's \
                         textfile collector reads only those), e.g. \
                         \"/var/lib/prometheus/node-exporter/simdondar-backup.prom\"",
                    ));
                }
                Some(p)
            }
        };
        let listen = match &m.listen {
            None => None,
            Some(v) if v.get_ref().trim().is_empty() => None,
            Some(v) => match v.get_ref().parse::<SocketAddr>() {
                Ok(a) if a.port() != 0 => Some(a),
                _ => {
                    return Err(self.err(
                        v.span(),
                        format!(
                            "[metrics] listen must be an IP address and a port from 1 to 65535, \
                             e.g. \"0.0.0.0:9477\", \"127.0.0.1:9477\" or \"[::]:9477\" (\"\" \
                             turns the listener off), got \"{}\"",
                            v.get_ref()
                        ),
                    ))
                }
            },
        };
        Ok(MetricsConfig { textfile, listen })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::{Config, ConfigError};

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/etc/x.toml"), text)
    }

    #[test]
    fn both_are_off_unless_set() {
        let c = parse("").expect("valid");
        assert_eq!(c.metrics.textfile, None);
        assert_eq!(c.metrics.listen, None);
        let c = parse("[metrics]\ntextfile = \"\"\nlisten = \"\"\n").expect("valid");
        assert_eq!(c.metrics.textfile, None);
        assert_eq!(c.metrics.listen, None);
    }

    #[test]
    fn a_path_and_an_address_are_taken() {
        let c = parse(
            "[metrics]\ntextfile = \"/var/lib/prometheus/node-exporter/simdondar-backup.prom\"\nlisten = \"0.0.0.0:9477\"\n",
        )
        .expect("valid");
        assert_eq!(
            c.metrics.textfile.as_deref(),
            Some(Path::new(
                "/var/lib/prometheus/node-exporter/simdondar-backup.prom"
            ))
        );
        assert_eq!(
            c.metrics.listen,
            Some("0.0.0.0:9477".parse().expect("addr"))
        );
        let c = parse("[metrics]\nlisten = \"[::1]:9477\"\n").expect("valid");
        assert_eq!(c.metrics.listen, Some("[::1]:9477".parse().expect("addr")));
    }

    #[test]
    fn a_bad_address_is_located_and_says_what_to_write() {
        for bad in [
            "localhost:9477",
            "0.0.0.0",
            "0.0.0.0:0",
            "0.0.0.0:99999",
            ":9477",
        ] {
            let e = parse(&format!("[metrics]\n\nlisten = \"{bad}\"\n")).unwrap_err();
            assert_eq!((e.line, e.column), (3, 10), "{bad}: {e}");
            assert!(e.message.contains("0.0.0.0:9477"), "{e}");
            assert!(e.message.contains(bad), "{e}");
        }
    }

    #[test]
    fn a_bad_textfile_is_located() {
        let e = parse("[metrics]\ntextfile = \"metrics.prom\"\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, 12), "{e}");
        assert!(e.message.contains("absolute"), "{e}");
        let e = parse("[metrics]\ntextfile = \"/var/lib/x/metrics.txt\"\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, 12), "{e}");
        assert!(e.message.contains(".prom"), "{e}");
        let e = parse("[metrics]\ntextfle = \"/x.prom\"\n").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
    }
}
