/*!
The node_exporter textfile: written atomically (a temporary file in the same directory, fsync,
mode 0644, rename, fsync of the directory), so the collector never reads half a file. A failure
is logged once per distinct error (not every minute) and never stops the daemon.
*/

use std::fmt;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Why the textfile could not be written.
#[derive(Debug)]
pub enum TextfileError {
    /// The file's directory does not exist (node_exporter's textfile directory not created).
    NoDirectory(PathBuf),
    /// Writing, syncing or renaming failed.
    Io {
        step: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
}

impl fmt::Display for TextfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TextfileError::NoDirectory(d) => write!(
                f,
                "the metrics textfile's directory {} does not exist: create it (node_exporter's \
                 --collector.textfile.directory; the Debian package prometheus-node-exporter \
                 uses /var/lib/prometheus/node-exporter) or change [metrics] textfile",
                d.display()
            ),
            TextfileError::Io { step, path, error } => write!(
                f,
                "cannot {step} the metrics textfile {}: {error} (check the directory's owner \
                 and free space, or change [metrics] textfile)",
                path.display()
            ),
        }
    }
}

impl std::error::Error for TextfileError {}

/// Writes `text` to `path` atomically, readable by everyone (0644: node_exporter runs as its own
/// user; the metrics hold no secret).
pub fn write_atomic(path: &Path, text: &str) -> Result<(), TextfileError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(TextfileError::NoDirectory(dir.to_path_buf()));
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "metrics.prom".into());
    // Not ending in .prom: the collector ignores it while it is being written.
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let io = |step: &'static str, p: &Path| {
        let p = p.to_path_buf();
        move |error| TextfileError::Io {
            step,
            path: p,
            error,
        }
    };
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(&tmp)
            .map_err(io("create", &tmp))?;
        // The umask may have taken bits away: 0644 whatever it is.
        f.set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(io("set the mode of", &tmp))?;
        f.write_all(text.as_bytes()).map_err(io("write", &tmp))?;
        f.sync_all().map_err(io("sync", &tmp))?;
        std::fs::rename(&tmp, path).map_err(io("rename into place", path))?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Writes the textfile again and again, logging each distinct failure once (and the recovery).
pub struct Writer {
    path: PathBuf,
    last_error: Option<String>,
}

impl Writer {
    pub fn new(path: PathBuf) -> Writer {
        Writer {
            path,
            last_error: None,
        }
    }

    /// One write; `Err` is also logged when it differs from the previous failure.
    pub fn write(&mut self, text: &str) -> Result<(), String> {
        match write_atomic(&self.path, text) {
            Ok(()) => {
                if self.last_error.take().is_some() {
                    log::info!("metrics: {} is written again", self.path.display());
                }
                Ok(())
            }
            Err(e) => {
                let msg = e.to_string();
                if self.last_error.as_deref() != Some(msg.as_str()) {
                    log::error!("metrics: {msg}");
                    self.last_error = Some(msg.clone());
                }
                Err(msg)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_whole_with_mode_0644_and_no_temporary_left() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("simdondar-backup.prom");
        write_atomic(&p, "a 1\n").expect("write");
        write_atomic(&p, "a 2\n").expect("rewrite");
        assert_eq!(std::fs::read_to_string(&p).expect("read"), "a 2\n");
        let mode = std::fs::metadata(&p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        let names: Vec<_> = std::fs::read_dir(d.path())
            .expect("dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(
            names,
            vec![std::ffi::OsString::from("simdondar-backup.prom")]
        );
    }

    #[test]
    fn a_missing_directory_is_named_and_a_failure_is_logged_once() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("nope").join("x.prom");
        let e = write_atomic(&p, "a 1\n").unwrap_err();
        assert!(matches!(e, TextfileError::NoDirectory(_)), "{e}");
        assert!(e.to_string().contains("does not exist"), "{e}");
        let mut w = Writer::new(p.clone());
        assert!(w.write("a 1\n").is_err());
        let first = w.last_error.clone();
        assert!(w.write("a 1\n").is_err());
        assert_eq!(w.last_error, first);
        std::fs::create_dir(d.path().join("nope")).expect("mkdir");
        assert!(w.write("a 1\n").is_ok());
        assert_eq!(w.last_error, None);
    }
}
