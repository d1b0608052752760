//! Packaging helper (not installed): writes the man pages and the shell completions generated from
//! the CLI definition (`cli::Cli`) into a directory, for the .deb built by `scripts/package`.
//!
//! `simdondar-gen-assets OUT_DIR` → `OUT_DIR/man/simdondar-backup*.1` (one page per subcommand)
//! and `OUT_DIR/completions/{simdondar-backup.bash,_simdondar-backup,simdondar-backup.fish}`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::Shell;

fn generate(out: &Path) -> std::io::Result<Vec<PathBuf>> {
    let man_dir = out.join("man");
    let comp_dir = out.join("completions");
    std::fs::create_dir_all(&man_dir)?;
    std::fs::create_dir_all(&comp_dir)?;
    let mut written = Vec::new();
    let cmd = simdondar_backup::cli::Cli::command();
    clap_mangen::generate_to(cmd.clone(), &man_dir)?;
    for entry in std::fs::read_dir(&man_dir)? {
        written.push(entry?.path());
    }
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let mut cmd = cmd.clone();
        written.push(clap_complete::generate_to(
            shell,
            &mut cmd,
            "simdondar-backup",
            &comp_dir,
        )?);
    }
    written.sort();
    Ok(written)
}

fn main() -> ExitCode {
    let Some(out) = std::env::args_os().nth(1) else {
        eprintln!("usage: simdondar-gen-assets OUT_DIR");
        return ExitCode::from(2);
    };
    match generate(Path::new(&out)) {
        Ok(files) => {
            for f in files {
                println!("{}", f.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "cannot write the man pages and completions under {}: {e}",
                Path::new(&out).display()
            );
            ExitCode::FAILURE
        }
    }
}
