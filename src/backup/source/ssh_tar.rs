/*!
The `ssh-tar` source: `ssh … tar -C DIR -cf - .` on a server, with a pinned host key and a key
file (no secret on the command line), and its failures (host key, refused key, unreachable, no
such directory) in words.
*/

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::config::SshTarSource;
use crate::util::find_tool;

use super::{collect_stderr, first_lines, Kind, Running, SourceError, SourceInfo};

impl Kind for SshTarSource {
    fn start(
        &self,
        _name: &str,
        _runtime_dir: &Path,
        stall: Duration,
    ) -> Result<Running, SourceError> {
        Ok(start_ssh_tar(self)?.watch(stall, None))
    }

    fn check_connection(&self, _name: &str, _runtime_dir: &Path) -> Result<String, SourceError> {
        let t = self;
        let ssh = find_tool(&["ssh"]).ok_or(SourceError::ToolMissing {
            tool: "ssh".into(),
            package: "openssh-client".into(),
        })?;
        let mut argv = ssh_tar_argv(t);
        if let Some(last) = argv.last_mut() {
            *last = format!(
                "test -d {} && test -r {}",
                shell_quote(&t.path),
                shell_quote(&t.path)
            );
        }
        let out = Command::new(ssh)
            .args(argv)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| SourceError::Spawn {
                tool: "ssh".into(),
                detail: e.to_string(),
            })?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        match out.status.code() {
            Some(0) => Ok(format!(
                "OK: {}@{}:{} {} is readable",
                t.user, t.host, t.port, t.path
            )),
            Some(255) => Err(
                classify_ssh_error(t, 255, &stderr).unwrap_or(SourceError::Failed {
                    tool: "ssh".into(),
                    code: 255,
                    stderr: first_lines(&stderr, 2),
                }),
            ),
            code => Err(SourceError::Failed {
                tool: "ssh".into(),
                code: code.unwrap_or(-1),
                stderr: format!("{} is not a readable directory on {}", t.path, t.host),
            }),
        }
    }
}

/// Quotes a word for the remote POSIX shell.
pub(super) fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The `ssh` command line of an `ssh-tar` source (no secrets in it: the key is a file).
pub fn ssh_tar_argv(t: &SshTarSource) -> Vec<String> {
    let mut v: Vec<String> = vec!["-F".into(), "/dev/null".into()];
    for o in [
        "BatchMode=yes".to_string(),
        "StrictHostKeyChecking=yes".to_string(),
        format!("UserKnownHostsFile={}", t.known_hosts.display()),
        "GlobalKnownHostsFile=/dev/null".to_string(),
        "IdentitiesOnly=yes".to_string(),
        format!("IdentityFile={}", t.key_file.display()),
        "ConnectTimeout=15".to_string(),
        "ServerAliveInterval=15".to_string(),
        "ServerAliveCountMax=4".to_string(),
        "LogLevel=ERROR".to_string(),
    ] {
        v.push("-o".into());
        v.push(o);
    }
    v.extend([
        "-T".into(),
        "-p".into(),
        t.port.to_string(),
        "-l".into(),
        t.user.clone(),
        t.host.clone(),
        "--".into(),
        format!("tar -C {} -cf - .", shell_quote(&t.path)),
    ]);
    v
}

fn start_ssh_tar(t: &SshTarSource) -> Result<Running, SourceError> {
    let ssh = find_tool(&["ssh"]).ok_or(SourceError::ToolMissing {
        tool: "ssh".into(),
        package: "openssh-client".into(),
    })?;
    let mut child = Command::new(&ssh)
        .args(ssh_tar_argv(t))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| SourceError::Spawn {
            tool: "ssh".into(),
            detail: e.to_string(),
        })?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take().map(collect_stderr);
    Ok(Running {
        tool: "ssh".into(),
        child,
        stdout,
        stderr,
        needs_trailer: false,
        ssh: Some(t.clone()),
        info: SourceInfo {
            extension: "tar".into(),
            ..SourceInfo::default()
        },
        watch: None,
        _options: None,
    })
}

/// Names an `ssh … tar` failure in words.
pub(super) fn classify_ssh_error(t: &SshTarSource, code: i32, stderr: &str) -> Option<SourceError> {
    let address = format!("{}:{}", t.host, t.port);
    let low = stderr.to_ascii_lowercase();
    if low.contains("host key verification failed")
        || low.contains("remote host identification has changed")
    {
        return Some(SourceError::HostKey {
            host: address,
            known_hosts: t.known_hosts.clone(),
        });
    }
    if low.contains("permission denied") && code == 255 {
        return Some(SourceError::AccessDenied {
            user: t.user.clone(),
            detail: format!(
                "the SSH server at {address} did not accept the key {}",
                t.key_file.display()
            ),
        });
    }
    if code == 255 {
        let detail = if low.contains("connection refused") {
            "connection refused".to_string()
        } else if low.contains("timed out") {
            "no answer (timed out)".to_string()
        } else if low.contains("could not resolve") {
            "unknown host name".to_string()
        } else {
            first_lines(stderr, 2)
        };
        return Some(SourceError::Unreachable { address, detail });
    }
    if low.contains("cannot change to directory") || low.contains("cannot open: no such file") {
        return Some(SourceError::Failed {
            tool: "tar on the server".into(),
            code,
            stderr: format!("the directory {} does not exist on {}", t.path, t.host),
        });
    }
    None
}
