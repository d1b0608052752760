/*!
One backup: sources, the streaming pipeline, per-target writers, names and layout on disk, the
manifest, reading backups back (inventory, restore).
*/

pub mod grants;
pub mod inventory;
pub mod layout;
pub mod manifest;
pub mod pipeline;
pub mod restore;
pub mod run;
pub mod source;
pub mod writer;
