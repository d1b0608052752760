/*!
The last step of a run: the file system of every target the run touched is flushed whole
(`syncfs`), so that what the disk holds is consistent before anyone can pull it or the power can
go. The fsyncs of publish keep each backup whole; they do not write what else a file system keeps
dirty. On FAT (Linux vfat) the allocation table's entries freed by retention's removals or by an
aborted copy stay dirty in memory for up to 30 s, tied to no file anyone can fsync. The VM lab
found it (docs/reliability.md): a FAT32 USB disk pulled right after a successful run lost those
writes ("lost async page write") and at the next mount the kernel found the FAT inconsistent
("deleting FAT entry beyond EOF"), which sets a disk read-only. Bounded by `stall_timeout`: a disk
that stopped answering is not waited for.
*/

use std::time::Duration;

use crate::backup::writer::CopyOutcome;
use crate::kinds::CopyFailure;

/// Flushes the file system of each target in `copies`, except those that stopped answering;
/// failures are logged (the backups themselves are already durable).
pub(super) fn settle(copies: &[CopyOutcome], stall: Duration) {
    for c in copies {
        if c.failure() == Some(CopyFailure::NotAnswering) {
            continue;
        }
        let root = c.target.root.clone();
        let shown = root.display().to_string();
        match crate::bounded::within(stall, "syncfs", move || {
            crate::safe_fs::sync_file_system(&root)
        }) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => log::warn!("{shown}: flushing the file system after the run failed: {e}"),
            Err(t) => log::warn!(
                "{shown}: the file system was still flushing after {} s; left to the kernel",
                t.0.as_secs()
            ),
        }
    }
}
