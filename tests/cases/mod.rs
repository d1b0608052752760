//! Integration test cases, one module per area.

mod config_check;
mod daemon;
mod disks;
mod failures;
mod retention;
mod roundtrip;
mod sources;
mod ssh;
mod targets;
mod verify;
