//! Running the `simdondar-backup` binary in a private setting: a temporary directory holding a
//! config, a 0600 password file, `state_dir`, `runtime_dir` and target folders.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use simdondar_backup::catalog::{Catalog, RunRow};

use super::mariadb::MariaDb;

/// The binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_simdondar-backup")
}

/// The backup user's password in every test: quotes and a backslash, to test the options file.
pub const PASSWORD: &str = "Pmi-\"r4has!a\\ 2026";

/// A private setting for the agent.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub state: PathBuf,
    pub runtime: PathBuf,
}

impl Setup {
    /// A setting whose config holds `sources` (TOML `[[source]]` tables) and `extra` TOML.
    pub fn with_sources(sources: &str, extra: &str) -> Setup {
        // The restore test's sandbox user must be able to pass through to state_dir.
        let dir = crate::support::sandbox::reachable_tempdir();
        let state = dir.path().join("state");
        let runtime = dir.path().join("run");
        let config = dir.path().join("config.toml");
        let text = format!(
            "timezone = \"Asia/Jakarta\"\nstate_dir = \"{}\"\nruntime_dir = \"{}\"\n{extra}\n{sources}",
            state.display(),
            runtime.display()
        );
        std::fs::write(&config, text).expect("write config");
        Setup {
            dir,
            config,
            state,
            runtime,
        }
    }

    /// A setting backing up `pmi`, `sms` and `wagw` from `db` as user `backup` with `password`.
    pub fn for_db(db: &MariaDb, password: &str) -> Setup {
        let setup = Setup::with_sources("", "");
        let pw_final = setup.dir.path().join("mysql.password");
        std::fs::write(&pw_final, format!("{password}\n")).expect("write password");
        std::fs::set_permissions(&pw_final, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let source = format!(
            "[[source]]\nname = \"pmi\"\nkind = \"mysql\"\nsocket = \"{}\"\nuser = \"backup\"\npassword_file = \"{}\"\ndatabases = [\"pmi\", \"sms\", \"wagw\"]\n",
            db.socket().display(),
            pw_final.display()
        );
        let text = std::fs::read_to_string(&setup.config).expect("read config");
        std::fs::write(&setup.config, format!("{text}{source}")).expect("write config");
        setup
    }

    /// A new, empty target folder inside the setting.
    pub fn target(&self, name: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::create_dir_all(&p).expect("create target");
        p
    }

    /// `simdondar-backup --config CONFIG`
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(bin());
        c.arg("--config").arg(&self.config);
        c
    }

    /// `backup --target T…`
    pub fn backup(&self, targets: &[&Path]) -> Output {
        let mut c = self.cmd();
        c.arg("backup");
        for t in targets {
            c.arg("--target").arg(t);
        }
        c.output().expect("run simdondar-backup")
    }

    /// `backup --target T…` started with its output piped (for [`std::process::Child::wait_with_output`]).
    pub fn spawn_backup(&self, targets: &[&Path]) -> std::process::Child {
        let mut c = self.cmd();
        c.arg("backup");
        for t in targets {
            c.arg("--target").arg(t);
        }
        c.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn simdondar-backup backup")
    }

    /// `prune --dry-run --json --target T`: the plan, one JSON object per backup (the run must
    /// succeed).
    pub fn prune_plan(&self, target: &Path) -> serde_json::Value {
        let out = self
            .cmd()
            .args(["prune", "--dry-run", "--json", "--target"])
            .arg(target)
            .output()
            .expect("prune");
        assert!(out.status.success(), "{}", show(&out));
        serde_json::from_slice(&out.stdout).expect("prune --json prints JSON")
    }

    /// The lines of `/proc/self/mountinfo` under this setting's `runtime_dir` (the agent's mounts).
    pub fn our_mounts(&self) -> Vec<String> {
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(&self.runtime.display().to_string()))
            .map(String::from)
            .collect()
    }

    /// The runs in the catalog, newest first.
    pub fn runs(&self) -> Vec<RunRow> {
        Catalog::open(&self.state)
            .expect("open catalog")
            .recent_runs(100)
            .expect("read runs")
    }
}

/// Every regular file below `dir`, sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let ft = e.file_type().expect("file type");
            if ft.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Files below `dir` that carry a final name (not `.partial`).
/// The bytes in `.partial` files under `dir`: how far a copy in progress has got.
pub fn partial_bytes(dir: &Path) -> u64 {
    files_under(dir)
        .iter()
        .filter(|p| p.to_string_lossy().ends_with(".partial"))
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum()
}

pub fn final_named(dir: &Path) -> Vec<PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|p| !p.to_string_lossy().ends_with(".partial"))
        .collect()
}

/// The data files (`*.zst`) below `dir`.
pub fn data_files(dir: &Path) -> Vec<PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".zst"))
        .collect()
}

/// stdout and stderr, for assertion messages.
pub fn show(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The path of a required tool, or a panic that says how to install it.
pub fn require_tool(name: &str, package: &str) -> PathBuf {
    simdondar_backup::util::find_tool(&[name]).unwrap_or_else(|| {
        panic!("{name} is needed by this test: install it with `apt-get install {package}`")
    })
}

/// `sha256sum -c NAME.sha256` next to a data file (or the base name of a split one) must pass.
pub fn sha256sum_ok(data: &Path) {
    let dir = data.parent().expect("parent");
    let name = data
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let out = Command::new(require_tool("sha256sum", "coreutils"))
        .arg("-c")
        .arg(format!("{name}.sha256"))
        .current_dir(dir)
        .output()
        .expect("sha256sum");
    assert!(out.status.success(), "sha256sum -c {name}: {}", show(&out));
}

/// `sha256sum -c` passes for every sidecar below `dir`.
pub fn sha256sum_all(dir: &Path) {
    for side in files_under(dir) {
        if let Some(data) = side.to_string_lossy().strip_suffix(".sha256") {
            sha256sum_ok(Path::new(data));
        }
    }
}
