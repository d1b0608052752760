/*!
`simdondar-backup`: the backup agent of the SIMDONDAR appliance for UTD PMI blood transfusion
units. It dumps the SIMDONDAR database, compresses, checksums and verifies each backup, writes it
to every target in folders by date, and records what happened in a catalog.

Module map (DESIGN.md §2):
- [`agent`]: the daemon (`run`): state, the pure step function, schedule, control socket,
  systemd notify, alerts, and waiting on a configuration it cannot use.
- [`panel`]: the front panel: OLED screens, LEDs, the button; hardware and simulated.
- [`report`]: the SOP report, the INDEX on each disk and the handover receipts.
- [`audit`]: the hash-chained audit log and its check.
- [`keycheck`]: the key-custody check (a challenge per age recipient, confirmed by its holder).
- [`cli`]: command-line definitions and the commands.
- [`config`]: the TOML configuration with located errors.
- [`jobs`]: what the appliance does, composed: a backup run with its paperwork and retention.
- [`backup`]: one run — sources, the streaming pipeline, target writers, layout, manifest, restore.
- [`catalog`]: the SQLite record of runs and copies.
- [`disks`]: USB disks through udev: enrollment, mounting, safe eject.
- [`kinds`]: typed failure kinds of a copy and a run (decisions are made on these, not on text).
- [`clock`]: whether the wall clock is synchronised; the host name.
- [`safe_fs`]: files on targets opened relative to directory handles, never through symlinks.
- [`util`]: small general helpers: hex, sizes in words, finding a program, free space.
- `testdb` (cargo feature `testdb`, on for the tests, the demo and the bench, off in the .deb): a
  SIMDONDAR-like test database.
*/

pub mod agent;
pub mod audit;
pub mod audit_anchor;
pub mod backup;
pub mod bounded;
pub mod catalog;
pub mod cli;
pub mod clock;
pub mod config;
pub mod disks;
pub mod jobs;
pub mod keycheck;
pub mod kinds;
pub mod offsite;
pub mod panel;
pub mod report;
pub mod safe_fs;
#[cfg(feature = "testdb")]
pub mod testdb;
pub mod util;
