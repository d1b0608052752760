//! The integration tests: one test binary, real MariaDB, real tools (DESIGN.md §6).

mod cases;
mod support;
