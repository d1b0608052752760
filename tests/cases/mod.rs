//! Integration test cases, one module per area.

mod config_check;
mod failures;
mod roundtrip;
mod sources;
