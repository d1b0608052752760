/*!
Opening the targets of a backup run: one writer per target that answered, has room (after what
retention allows) and may take the copy (a role that requires encryption needs a recipient).
Every target left out gets its failed copy here, with its reason.
*/

use std::path::PathBuf;

use super::pruning::make_room;
use super::{Run, RunError};
use crate::backup::writer::{self, CopyOutcome, WriterHandle};
use crate::config::Config;
use crate::kinds::{CopyError, CopyFailure};

/// The configured age recipients (already checked by the configuration).
pub fn encryption_recipients(config: &Config) -> Vec<age::x25519::Recipient> {
    config
        .encryption
        .recipients
        .iter()
        .filter_map(|r| r.parse::<age::x25519::Recipient>().ok())
        .collect()
}

/// Starts a writer on every target that can take this run's copy; each target that cannot gets
/// its failed copy in `copies`. The previous run's size (plus a tenth and 1 MiB) is the room
/// asked for.
pub(super) fn open_writers(
    run: &Run<'_>,
    unanswering: &[(PathBuf, CopyError)],
    copies: &mut Vec<CopyOutcome>,
) -> Result<Vec<WriterHandle>, RunError> {
    let (config, catalog, source) = (run.config, run.catalog, run.source);
    let estimate = catalog
        .last_stream_bytes(&source.name)?
        .map(|b| b + b / 10 + (1 << 20));
    let mut writers: Vec<WriterHandle> = Vec::new();
    for t in run.targets {
        if let Some(e) = unanswering
            .iter()
            .find_map(|(root, e)| (root == &t.root).then_some(e))
        {
            copies.push(CopyOutcome {
                target: t.clone(),
                relative_path: run.name.relative_path(),
                result: Err(e.clone()),
            });
            continue;
        }
        if let Some(need) = estimate {
            if let Err(e) = make_room(config, catalog, t, &source.name, need) {
                log::warn!("{e}");
                copies.push(CopyOutcome {
                    target: t.clone(),
                    relative_path: run.name.relative_path(),
                    result: Err(e),
                });
                continue;
            }
        }
        let encrypt = config.encryption.require_for.contains(&t.role);
        if encrypt && run.recipients.is_empty() {
            copies.push(CopyOutcome {
                target: t.clone(),
                relative_path: run.enc_name.relative_path(),
                result: Err(CopyError::new(CopyFailure::Policy, format!(
                    "{}: not written: copies for {} disks must be encrypted, but no recipient is configured (create a key with `simdondar-backup keygen --out FILE` and add its public key to [encryption] recipients)",
                    t.root.display(),
                    t.role.as_str()
                ))),
            });
            continue;
        }
        let this_name = if encrypt { &run.enc_name } else { &run.name };
        match writer::spawn(t.clone(), this_name, encrypt, run.stall) {
            Ok(w) => writers.push(w),
            Err(failed) => {
                if let Err(e) = &failed.result {
                    log::warn!("{e}");
                }
                copies.push(failed);
            }
        }
    }
    Ok(writers)
}
