/*!
Small general helpers with no knowledge of backups, disks or the appliance: lowercase hex, a read
loop, sizes in words, finding a program on `PATH`, and the free space of a file system. They live here, at the
bottom of the layering (docs/developer-guide.md §1), so that every module can use them without
importing a domain module for a helper.
*/

pub mod hex;
pub mod read;
pub mod size;
pub mod space;
pub mod tool;

pub use hex::hex;
pub use read::read_each;
pub use size::human_bytes;
pub use space::{free_bytes, space};
pub use tool::find_tool;
