/*!
Jobs: what the appliance does, composed from the domains below (sources, the stream, writers,
disks, the catalog, the reports). A job owns the order of things and nothing else; every
mechanism it uses lives in a domain module. The agent (the daemon) and the CLI call jobs; no
domain module calls a job (docs/developer-guide.md §1, checked by `scripts/check-layers`).

- [`backup_run`]: one backup run of one source onto a set of targets, with its paperwork and
  retention.
- [`verify`]: every copy on a set of targets read back and compared, recorded and summed up.
- [`prune`]: retention on a set of targets, all sources, recorded and audited.
- [`restore_test`]: the scheduled restore test of the newest backups, recorded and audited.
- [`scrub`]: one paced pass of the scrub over the automatic disks.
- [`offsite`]: one pass over the off-site stores: uploads, read-backs, the outcome recorded.
*/

pub mod backup_run;
pub mod offsite;
pub mod prune;
pub mod restore_test;
pub mod scrub;
pub mod verify;
