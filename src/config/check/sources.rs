/*!
Checking the sources (`[[source]]`): each kind's keys (`mysql`, `ssh-tar`, `command`), the keys
that do not apply to a kind, and the secret files (readable by no one else).
*/

use toml::Spanned;

use super::super::raw::*;
use super::super::*;
use super::Checker;

impl Checker<'_> {
    pub(super) fn check_source(&self, s: &RawSource) -> Result<SourceConfig, ConfigError> {
        let name = s.name.get_ref();
        self.check_name(
            &s.name,
            "source name",
            " (it becomes a folder and file name)",
        )?;
        let kind = s.kind.get_ref().as_str();
        let default_interval = match kind {
            "mysql" => Duration::from_secs(3600),
            _ => Duration::from_secs(86_400),
        };
        let interval = match &s.interval {
            None => default_interval,
            Some(v) => parse_duration(v.get_ref()).map_err(|m| self.err(v.span(), m))?,
        };
        let kind = match kind {
            "mysql" => SourceKind::Mysql(self.check_mysql(s)?),
            "command" => SourceKind::Command(self.check_command(s)?),
            "ssh-tar" => SourceKind::SshTar(self.check_ssh_tar(s)?),
            other => {
                return Err(self.err(
                    s.kind.span(),
                    format!(
                        "unknown source kind \"{other}\": use \"mysql\", \"ssh-tar\" or \"command\""
                    ),
                ))
            }
        };
        for (key, present) in self.foreign_keys(s, &kind) {
            if let Some(span) = present {
                return Err(self.err(
                    span,
                    format!(
                        "key {key} does not apply to a source of kind \"{}\"",
                        kind.as_str()
                    ),
                ));
            }
        }
        Ok(SourceConfig {
            name: name.clone(),
            kind,
            interval,
        })
    }

    /// Keys set on a source that mean nothing for its kind (an error, like unknown keys).
    fn foreign_keys(
        &self,
        s: &RawSource,
        kind: &SourceKind,
    ) -> Vec<(&'static str, Option<Range<usize>>)> {
        let all = [
            ("socket", s.socket.as_ref().map(|v| v.span())),
            ("host", s.host.as_ref().map(|v| v.span())),
            ("port", s.port.as_ref().map(|v| v.span())),
            ("user", s.user.as_ref().map(|v| v.span())),
            ("password_file", s.password_file.as_ref().map(|v| v.span())),
            ("databases", s.databases.as_ref().map(|v| v.span())),
            ("dump_tool", s.dump_tool.as_ref().map(|v| v.span())),
            ("consistency", s.consistency.as_ref().map(|v| v.span())),
            ("command", s.command.as_ref().map(|v| v.span())),
            ("extension", s.extension.as_ref().map(|v| v.span())),
            ("key_file", s.key_file.as_ref().map(|v| v.span())),
            ("known_hosts", s.known_hosts.as_ref().map(|v| v.span())),
            ("path", s.path.as_ref().map(|v| v.span())),
        ];
        let allowed: &[&str] = match kind {
            SourceKind::Mysql(_) => &[
                "socket",
                "host",
                "port",
                "user",
                "password_file",
                "databases",
                "dump_tool",
                "consistency",
            ],
            SourceKind::Command(_) => &["command", "extension"],
            SourceKind::SshTar(_) => &["host", "port", "user", "key_file", "known_hosts", "path"],
        };
        all.into_iter()
            .filter(|(k, _)| !allowed.contains(k))
            .collect()
    }

    fn check_ssh_tar(&self, s: &RawSource) -> Result<SshTarSource, ConfigError> {
        let need = |v: &Option<Spanned<String>>,
                    key: &str,
                    example: &str|
         -> Result<Spanned<String>, ConfigError> {
            match v {
                Some(x) if !x.get_ref().trim().is_empty() => Ok(x.clone()),
                Some(x) => Err(self.err(x.span(), format!("{key} is empty: {example}"))),
                None => Err(self.err(
                    s.kind.span(),
                    format!("an ssh-tar source needs {key}: {example}"),
                )),
            }
        };
        let host = need(
            &s.host,
            "host",
            "host = \"10.0.0.5\" (the application server)",
        )?;
        let user = need(
            &s.user,
            "user",
            "user = \"backup\" (the SSH login on the server)",
        )?;
        let key = need(
            &s.key_file,
            "key_file",
            "key_file = \"/etc/simdondar-backup/ssh/id_ed25519\"",
        )?;
        let known = need(&s.known_hosts, "known_hosts", "known_hosts = \"/etc/simdondar-backup/ssh/known_hosts\" (the server's pinned host key)")?;
        let path = need(
            &s.path,
            "path",
            "path = \"/var/www/simudda\" (the directory to back up)",
        )?;
        let port = match &s.port {
            None => 22,
            Some(p) => u16::try_from(*p.get_ref())
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| {
                    self.err(
                        p.span(),
                        format!("port must be between 1 and 65535, got {}", p.get_ref()),
                    )
                })?,
        };
        if host.get_ref().starts_with('-') || host.get_ref().contains(char::is_whitespace) {
            return Err(self.err(host.span(), "host must be a host name or IP address"));
        }
        if user.get_ref().starts_with('-') || user.get_ref().contains(char::is_whitespace) {
            return Err(self.err(user.span(), "user must be a plain login name"));
        }
        if !path.get_ref().starts_with('/') {
            return Err(self.err(
                path.span(),
                "path must be an absolute directory on the server, e.g. \"/var/www/simudda\"",
            ));
        }
        let key_file = self.abs_path(&key, "key_file")?;
        self.check_secret_file(&key_file, key.span(), "key_file")?;
        let known_hosts = self.abs_path(&known, "known_hosts")?;
        if let Err(e) = std::fs::metadata(&known_hosts) {
            return Err(self.err(known.span(), format!("known_hosts {} cannot be read: {e} (pin the server's key with `ssh-keyscan -p PORT HOST > FILE` and check its fingerprint)", known_hosts.display())));
        }
        Ok(SshTarSource {
            host: host.get_ref().clone(),
            port,
            user: user.get_ref().clone(),
            key_file,
            known_hosts,
            path: path.get_ref().clone(),
        })
    }

    fn check_mysql(&self, s: &RawSource) -> Result<MysqlSource, ConfigError> {
        let address = match (&s.socket, &s.host) {
            (Some(sock), None) => {
                if let Some(p) = &s.port {
                    return Err(self.err(p.span(), "port has no meaning with socket: remove one of them"));
                }
                DbAddress::Socket(self.abs_path(sock, "socket")?)
            }
            (None, Some(host)) => {
                let port = match &s.port {
                    None => 3306,
                    Some(p) => u16::try_from(*p.get_ref())
                        .ok()
                        .filter(|p| *p > 0)
                        .ok_or_else(|| self.err(p.span(), format!("port must be between 1 and 65535, got {}", p.get_ref())))?,
                };
                if host.get_ref().trim().is_empty() {
                    return Err(self.err(host.span(), "host is empty: give the database server's name or IP address"));
                }
                DbAddress::Tcp {
                    host: host.get_ref().clone(),
                    port,
                }
            }
            (Some(_), Some(host)) => {
                return Err(self.err(
                    host.span(),
                    "give either socket (a local server) or host/port (a server on the network), not both",
                ))
            }
            (None, None) => {
                return Err(self.err(
                    s.kind.span(),
                    "a mysql source needs socket = \"/run/mysqld/mysqld.sock\" or host = \"…\" (with port, default 3306)",
                ))
            }
        };
        let user = match &s.user {
            Some(u) if !u.get_ref().is_empty() => u.get_ref().clone(),
            Some(u) => return Err(self.err(u.span(), "user is empty: give the MariaDB user for backups")),
            None => {
                return Err(self.err(
                    s.kind.span(),
                    "a mysql source needs user = \"…\" (a MariaDB user with the grants in docs/mariadb-grants.md)",
                ))
            }
        };
        let password_file = match &s.password_file {
            None => None,
            Some(p) => {
                let path = self.abs_path(p, "password_file")?;
                self.check_secret_file(&path, p.span(), "password_file")?;
                Some(path)
            }
        };
        let databases = match &s.databases {
            None => {
                return Err(self.err(
                    s.kind.span(),
                    "a mysql source needs databases = [\"pmi\", …]: the databases to dump",
                ))
            }
            Some(d) => {
                if d.get_ref().is_empty() {
                    return Err(
                        self.err(d.span(), "databases is empty: list at least one database")
                    );
                }
                for db in d.get_ref() {
                    if db.is_empty()
                        || db.len() > 64
                        || !db
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$' || c == '-')
                    {
                        return Err(self.err(
                            d.span(),
                            format!("database name \"{db}\" is not a plain MariaDB name (letters, digits, _ $ -)"),
                        ));
                    }
                }
                d.get_ref().clone()
            }
        };
        let dump_tool = match &s.dump_tool {
            None => None,
            Some(t) => Some(self.abs_path(t, "dump_tool")?),
        };
        Ok(MysqlSource {
            address,
            user,
            password_file,
            databases,
            consistency: s
                .consistency
                .as_ref()
                .map(|c| *c.get_ref())
                .unwrap_or(Consistency::Auto),
            dump_tool,
        })
    }

    fn check_command(&self, s: &RawSource) -> Result<CommandSource, ConfigError> {
        let argv = match &s.command {
            Some(c) if !c.get_ref().is_empty() && !c.get_ref()[0].is_empty() => c.get_ref().clone(),
            Some(c) => return Err(self.err(c.span(), "command is empty: give the program and its arguments, e.g. [\"tar\", \"-C\", \"/var/www\", \"-cf\", \"-\", \"simudda\"]")),
            None => {
                return Err(self.err(
                    s.kind.span(),
                    "a command source needs command = [\"program\", \"arg\", …] whose standard output is the backup",
                ))
            }
        };
        let extension = match &s.extension {
            None => "tar".to_string(),
            Some(e) => {
                let v = e.get_ref();
                if v.is_empty()
                    || v.len() > 8
                    || !v
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                {
                    return Err(self.err(e.span(), "extension must be 1 to 8 lowercase letters or digits, e.g. \"tar\" or \"sql\""));
                }
                v.clone()
            }
        };
        Ok(CommandSource { argv, extension })
    }

    pub(super) fn check_secret_file(
        &self,
        path: &Path,
        span: Range<usize>,
        key: &str,
    ) -> Result<(), ConfigError> {
        let meta = std::fs::metadata(path).map_err(|e| {
            self.err(
                span.clone(),
                format!("{key} {} cannot be read: {e}", path.display()),
            )
        })?;
        if !meta.is_file() {
            return Err(self.err(
                span,
                format!("{key} {} is not a regular file", path.display()),
            ));
        }
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o007 != 0 {
            return Err(self.err(
                span,
                format!(
                    "{key} {} is readable by every user (mode {mode:04o}): run `chmod 600 {}`",
                    path.display(),
                    path.display()
                ),
            ));
        }
        Ok(())
    }
}
