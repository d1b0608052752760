/*!
One backup: sources, the streaming pipeline, per-target writers, names and layout on disk, the
manifest, reading backups back (inventory, restore).
*/

pub mod busy;
pub mod grants;
pub mod inventory;
pub mod layout;
pub mod manifest;
pub mod pipeline;
pub mod prune;
pub mod publish;
pub mod restore;
pub mod restore_test;
pub mod retention;
pub mod rowcount;
pub mod sandbox;
pub mod scrub;
pub mod source;
pub mod stall;
pub mod verify;
pub mod writer;
