/*!
The tamper-evident audit log (GMP, EU GMP Annex 11 §9): every run, copy, verification, restore
test, prune deletion, disk enrolled or ejected, button press, control-socket request (with the
caller's uid), configuration change and agent start/stop is appended to the catalog's `audit`
table, each entry holding the SHA-256 of the previous one. [`verify_chain`] walks the chain and
names the first entry that was changed, removed or inserted afterwards. Retention never deletes
audit entries (the table also refuses UPDATE and DELETE).
*/

use serde::Serialize;

use crate::catalog::{audit_hash, AuditRow, Catalog, AUDIT_GENESIS};

/// The first entry that does not fit the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    pub id: i64,
    pub why: String,
}

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "audit entry {}: {}", self.id, self.why)
    }
}

/// Checks the whole chain; `Ok(n)` with the number of entries when intact.
pub fn verify_chain(rows: &[AuditRow]) -> Result<usize, Broken> {
    let mut prev = AUDIT_GENESIS.to_string();
    for (expected_id, r) in (1..).zip(rows.iter()) {
        if r.id != expected_id {
            return Err(Broken {
                id: expected_id,
                why: format!(
                    "is missing (the next entry is {}): entries were deleted",
                    r.id
                ),
            });
        }
        if r.prev_hash != prev {
            return Err(Broken {
                id: r.id,
                why: "does not chain to the entry before it: entries were removed or inserted"
                    .into(),
            });
        }
        let h = audit_hash(&r.prev_hash, r.id, &r.at, &r.actor, &r.kind, &r.detail);
        if h != r.hash {
            return Err(Broken {
                id: r.id,
                why: format!(
                    "({} {} at {}) does not match its hash: it was changed after it was written",
                    r.kind, r.actor, r.at
                ),
            });
        }
        prev = r.hash.clone();
    }
    Ok(rows.len())
}

/// Appends an entry; a failure to record is logged loudly but does not undo the action.
pub fn record(catalog: &Catalog, actor: &str, kind: &str, detail: &impl Serialize) {
    let text = serde_json::to_string(detail).unwrap_or_else(|_| "{}".into());
    if let Err(e) = catalog.audit(actor, kind, &text) {
        log::error!("cannot write the audit log ({kind}): {e}");
    }
}

/// The actor for a command-line caller.
pub fn cli_actor() -> String {
    format!("uid:{}", nix::unistd::getuid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intact_chain_and_each_kind_of_tampering() {
        let d = tempfile::tempdir().expect("tempdir");
        let c = Catalog::open(d.path()).expect("catalog");
        for i in 0..5 {
            record(&c, "daemon", "run", &serde_json::json!({ "n": i }));
        }
        let rows = c.audit_entries().expect("rows");
        assert_eq!(verify_chain(&rows), Ok(5));

        let mut changed = rows.clone();
        changed[2].detail = "{\"n\":99}".into();
        assert_eq!(verify_chain(&changed).map_err(|b| b.id), Err(3));

        let mut removed = rows.clone();
        removed.remove(1);
        let e = verify_chain(&removed).expect_err("gap");
        assert_eq!(e.id, 2);
        assert!(e.why.contains("deleted"), "{e}");

        let mut last_removed = rows.clone();
        last_removed.pop();
        assert_eq!(
            verify_chain(&last_removed),
            Ok(4),
            "a truncated tail is only caught by counts elsewhere"
        );

        // The table refuses updates and deletes through SQL.
        assert!(c
            .connection()
            .execute("UPDATE audit SET detail = 'x' WHERE id = 1", [])
            .is_err());
        assert!(c
            .connection()
            .execute("DELETE FROM audit WHERE id = 1", [])
            .is_err());
    }
}
