//! Helpers shared by the integration tests (one test binary, `tests/e2e.rs`).

pub mod agent;
pub mod daemon;
pub mod eio;
pub mod garage;
pub mod loopfs;
pub mod mariadb;
pub mod procscan;
pub mod sandbox;
pub mod smtpd;
pub mod sshd;
pub mod udev;
