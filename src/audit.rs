/*!
The tamper-evident audit log (GMP, EU GMP Annex 11 §9): every run, copy, verification, restore
test, prune deletion, disk enrolled or ejected, button press, control-socket request (with the
caller's uid), configuration change and agent start/stop is appended to the catalog's `audit`
table, each entry holding the SHA-256 of the previous one. [`verify_chain`] walks the chain and
names the first entry that was changed, removed or inserted afterwards. Retention never deletes
audit entries (the table also refuses UPDATE and DELETE).

An entry that cannot be written (the catalog busy beyond its timeout, an I/O error) is tried
again, then kept in memory and written before the next one, in order; while any is kept,
[`pending`] says how many and the daemon shows it on the amber LED.
*/

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

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

/// An entry not written yet.
struct Unwritten {
    at: String,
    actor: String,
    kind: String,
    detail: String,
}

/// Entries kept for a later write, per catalog file, oldest first.
static UNWRITTEN: Mutex<BTreeMap<PathBuf, Vec<Unwritten>>> = Mutex::new(BTreeMap::new());

/// Attempts per entry before it is kept for later.
const TRIES: u64 = 3;

/// Appends an entry (after any kept from earlier failures). A failure to record does not undo the
/// action: it is logged, the entry kept and retried, and [`pending`] counts it.
pub fn record(catalog: &Catalog, actor: &str, kind: &str, detail: &impl Serialize) {
    let entry = Unwritten {
        at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        actor: actor.to_string(),
        kind: kind.to_string(),
        detail: serde_json::to_string(detail).unwrap_or_else(|_| "{}".into()),
    };
    let mut all = UNWRITTEN.lock().unwrap_or_else(|p| p.into_inner());
    let queue = all.entry(catalog.path().to_path_buf()).or_default();
    queue.push(entry);
    while let Some(e) = queue.first() {
        match append(catalog, e) {
            Ok(()) => {
                queue.remove(0);
            }
            Err(err) => {
                log::error!(
                    "cannot write the audit log ({}): {err}; {} entr{} kept in memory and written with the next one",
                    e.kind,
                    queue.len(),
                    if queue.len() == 1 { "y" } else { "ies" }
                );
                break;
            }
        }
    }
    all.retain(|_, q| !q.is_empty());
}

fn append(catalog: &Catalog, e: &Unwritten) -> Result<(), crate::catalog::CatalogError> {
    let mut attempt = 1;
    loop {
        match catalog.audit_at(&e.at, &e.actor, &e.kind, &e.detail) {
            Ok(()) => return Ok(()),
            Err(_) if attempt < TRIES => {
                std::thread::sleep(Duration::from_millis(50 * attempt));
                attempt += 1;
            }
            Err(err) => return Err(err),
        }
    }
}

/// [`record`] into the catalog in `state_dir` (a command-line caller that has none open); a
/// catalog that cannot be opened is said on stderr, never passed over.
pub fn record_in(state_dir: &std::path::Path, actor: &str, kind: &str, detail: &impl Serialize) {
    match Catalog::open(state_dir) {
        Ok(cat) => record(&cat, actor, kind, detail),
        Err(e) => log::error!("cannot write the audit log ({kind}): {e}"),
    }
}

/// How many audit entries of this process are not written to `catalog` yet.
pub fn pending(catalog: &Catalog) -> usize {
    UNWRITTEN
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(catalog.path())
        .map_or(0, Vec::len)
}

/// The actor for a command-line caller.
pub fn cli_actor() -> String {
    format!("uid:{}", nix::unistd::getuid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_writers_lose_no_entry() {
        let d = tempfile::tempdir().expect("tempdir");
        drop(Catalog::open(d.path()).expect("catalog"));
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let dir = d.path().to_path_buf();
                std::thread::spawn(move || {
                    let c = Catalog::open(&dir).expect("catalog");
                    for i in 0..40 {
                        record(&c, "test", "press", &serde_json::json!({ "t": t, "i": i }));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("writer");
        }
        let c = Catalog::open(d.path()).expect("catalog");
        let rows = c.audit_entries().expect("rows");
        assert_eq!(verify_chain(&rows), Ok(8 * 40), "every entry, in one chain");
        assert_eq!(pending(&c), 0);
    }

    #[test]
    fn an_entry_that_cannot_be_written_is_kept_and_written_first_next_time() {
        let d = tempfile::tempdir().expect("tempdir");
        let c = Catalog::open(d.path()).expect("catalog");
        c.connection()
            .busy_timeout(Duration::from_millis(20))
            .expect("timeout");
        let other = rusqlite::Connection::open(c.path()).expect("second connection");
        other
            .execute_batch("BEGIN IMMEDIATE")
            .expect("hold the write lock");
        record(&c, "button", "press", &serde_json::json!({ "n": 1 }));
        assert_eq!(pending(&c), 1, "kept, not lost");
        assert_eq!(c.audit_entries().expect("rows").len(), 0);
        other.execute_batch("COMMIT").expect("release");
        record(&c, "button", "press", &serde_json::json!({ "n": 2 }));
        assert_eq!(pending(&c), 0);
        let rows = c.audit_entries().expect("rows");
        assert_eq!(verify_chain(&rows), Ok(2));
        let details: Vec<&str> = rows.iter().map(|r| r.detail.as_str()).collect();
        assert_eq!(
            details,
            ["{\"n\":1}", "{\"n\":2}"],
            "in the order they happened"
        );
        assert!(rows[0].at <= rows[1].at);
    }

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
