//! `simdondar-backup`: the command line. All the work lives in the library.

fn main() -> std::process::ExitCode {
    simdondar_backup::cli::main()
}
