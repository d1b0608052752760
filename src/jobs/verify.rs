/*!
The verification job (`verify` on the command line): every copy on the given targets is read back
from the device and compared with its manifest and sidecar ([`crate::backup::verify`], which
renames a damaged copy `.corrupt`), each result is recorded in the catalog and the audit log, and
what failed is summed up in one sentence.
*/

use crate::backup::layout::CORRUPT_SUFFIX;
use crate::backup::verify::{self, Checked, Verdict};
use crate::catalog::{Catalog, CatalogError};
use crate::disks::claim::Claim;

/// Verifies every copy on the claimed targets, in order; a target that cannot be read adds a
/// problem to `problems`.
pub fn check_targets(claims: &[Claim], now: &str, problems: &mut Vec<String>) -> Vec<Checked> {
    let mut all = Vec::new();
    for c in claims {
        match verify::verify_target(&c.root, now) {
            Ok(list) => all.extend(list),
            Err(e) => problems.push(format!("cannot read target {e}")),
        }
    }
    all
}

/// Records each verification in the catalog and the audit log (as `actor`). A copy that was not
/// checked (a newer program's format) is no verification and is only audited.
pub fn record(
    catalog: &Catalog,
    all: &[Checked],
    now: &str,
    actor: &str,
) -> Result<(), CatalogError> {
    for c in all {
        if c.verdict.was_checked() {
            catalog.record_verification(&c.target, &c.path, c.ok, c.problem.as_deref(), now)?;
        }
        crate::audit::record(catalog, actor, "verify", c);
    }
    Ok(())
}

/// How many copies failed verification, by kind, and how many were not checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub damaged: usize,
    pub unreadable: usize,
    pub missing: usize,
    pub skipped: usize,
}

impl Tally {
    /// Counts the verdicts of `all`.
    pub fn of(all: &[Checked]) -> Tally {
        let count = |f: fn(&Verdict) -> bool| all.iter().filter(|c| f(&c.verdict)).count();
        Tally {
            damaged: count(|v| matches!(v, Verdict::Mismatch { .. } | Verdict::BadManifest { .. })),
            unreadable: count(|v| matches!(v, Verdict::Unreadable { .. })),
            missing: count(|v| matches!(v, Verdict::Missing { .. })),
            skipped: count(|v| matches!(v, Verdict::Skipped { .. })),
        }
    }

    /// Copies that failed (damaged, unreadable or incomplete).
    pub fn bad(&self) -> usize {
        self.damaged + self.unreadable + self.missing
    }

    /// The sentence that says what failed, of `total` copies; `None` when nothing did.
    pub fn problem(&self, total: usize) -> Option<String> {
        let bad = self.bad();
        if bad == 0 {
            return None;
        }
        let mut what = Vec::new();
        if self.damaged > 0 {
            what.push(format!(
                "{} damaged (renamed {CORRUPT_SUFFIX}, no longer counted)",
                self.damaged
            ));
        }
        if self.unreadable > 0 {
            what.push(format!(
                "{} unreadable (the disk returned errors; kept, not counted, read again at the next verification)",
                self.unreadable
            ));
        }
        if self.missing > 0 {
            what.push(format!(
                "{} incomplete (a data file is missing)",
                self.missing
            ));
        }
        Some(format!(
            "{bad} of {total} copies failed verification: {}; restore from another disk and replace the failing one",
            what.join(", ")
        ))
    }
}
