//! `simdondar-testdb`: writes the SQL of a SIMDONDAR-like test database to stdout, for the
//! `mariadb` client. A thin shell over [`simdondar_backup::testdb`].
//!
//! ```text
//! simdondar-testdb [--scale-mb N] [--seed S] | mariadb --max-allowed-packet=1G
//! ```
//! Exit codes: 0 written, 1 the output failed (e.g. a closed pipe), 2 bad arguments.

use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;
use simdondar_backup::testdb::{write_sql, TestDbSpec};

/// Write the SQL of a SIMDONDAR-like test database (pmi, sms, wagw) to stdout.
///
/// The SQL drops and recreates the databases `pmi`, `sms` and `wagw`. Load it with the mariadb
/// client, e.g. `simdondar-testdb --scale-mb 100 | mariadb --max-allowed-packet=1G`.
#[derive(Debug, Parser)]
#[command(name = "simdondar-testdb", version)]
struct Args {
    /// Approximate table data in MiB (donor photos are most of it); 0 gives a small database
    #[arg(long, value_name = "N", default_value_t = 0)]
    scale_mb: u64,
    /// Seed of the random data; the same scale and seed always give the same SQL
    #[arg(long, value_name = "S", default_value_t = 1)]
    seed: u64,
}

fn main() -> ExitCode {
    // clap exits with code 2 on bad arguments (0 for --help and --version).
    let args = Args::parse();
    let spec = TestDbSpec {
        scale_mb: args.scale_mb,
        seed: args.seed,
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::with_capacity(1 << 20, stdout.lock());
    match write_sql(&spec, &mut out).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
            eprintln!("simdondar-testdb: output closed before the end (broken pipe)");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("simdondar-testdb: cannot write the SQL: {e}");
            ExitCode::from(1)
        }
    }
}
