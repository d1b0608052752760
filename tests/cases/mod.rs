//! Integration test cases, one module per area.

mod claims;
mod config_check;
mod crashpoints;
mod daemon;
mod disks;
mod encryption;
mod failures;
mod garage;
mod hostile;
mod keycheck;
mod panel;
mod readback;
mod readonly;
mod report;
mod restore_test;
mod retention;
mod roundtrip;
mod sandbox;
mod scrub;
mod secrets;
mod sources;
mod ssh;
mod stalls;
mod targets;
mod verify;
