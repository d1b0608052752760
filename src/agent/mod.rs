/*!
The daemon (`run`): one event loop owning the [`state::State`]; every decision is the pure
[`step::step`]; the loop in [`daemon`] carries out the actions with threads for backup jobs, disk
checks and ejects, and listens to udev, the button, the control socket and the clock; [`metrics`] exports its health to Prometheus.
*/

pub mod alerts;
pub mod control;
pub mod daemon;
pub mod metrics;
pub mod panel_port;
pub mod schedule;
pub mod sd;
pub mod state;
pub mod step;
pub mod waiting;

#[cfg(test)]
mod tests;
