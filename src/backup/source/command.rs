/*!
The `command` source: any program whose stdout is the backup; its exit status decides.
*/

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::config::CommandSource;

use super::{collect_stderr, Kind, Running, SourceError, SourceInfo};

impl Kind for CommandSource {
    fn start(
        &self,
        _name: &str,
        _runtime_dir: &Path,
        stall: Duration,
    ) -> Result<Running, SourceError> {
        Ok(start_command(self)?.watch(stall, None))
    }

    fn check_connection(&self, _name: &str, _runtime_dir: &Path) -> Result<String, SourceError> {
        Ok(format!(
            "a command source ({}); nothing to connect to",
            self.argv[0]
        ))
    }
}

fn start_command(c: &CommandSource) -> Result<Running, SourceError> {
    let tool = c.argv[0].clone();
    let mut child = Command::new(&c.argv[0])
        .args(&c.argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| SourceError::Spawn {
            tool: tool.clone(),
            detail: e.to_string(),
        })?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take().map(collect_stderr);
    Ok(Running {
        tool,
        child,
        stdout,
        stderr,
        needs_trailer: false,
        ssh: None,
        info: SourceInfo {
            extension: c.extension.clone(),
            ..SourceInfo::default()
        },
        watch: None,
        _options: None,
    })
}
